import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { validateWorkflow } from "@action-validator/core";
import { parse } from "yaml";

const path = join(__dirname, "..", "..", ".github", "workflows", "preview.yml");
const source = readFileSync(path, "utf8");

test("the pull-request workflow is valid against GitHub's workflow schema", () => {
  const state = validateWorkflow(source);
  assert.deepEqual(state.errors, []);
});

test("the pull-request workflow previews the prod stack and needs no host access", () => {
  const workflow = parse(source);
  assert.ok("pull_request" in workflow.on, "runs on pull requests");
  const steps: { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }[] = workflow.jobs.preview.steps;
  const pulumi = steps.find((step) => step.uses?.startsWith("pulumi/actions@"));
  assert.equal(pulumi?.with?.command, "preview");
  assert.equal(pulumi?.with?.["stack-name"], "prod");
  assert.equal(pulumi?.with?.refresh, undefined, "no --refresh: preview then opens no SSH connection");
  assert.doesNotMatch(source, /sshPrivateKey|SSH_PRIVATE_KEY|sudoPassword/i, "no SSH credential is given to the job");
  const version = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")).devDependencies.pulumi;
  assert.equal(pulumi?.with?.["pulumi-version"], version, "the CI uses the CLI version the project pins");
});

test("the schema check can fail: a workflow with a misspelt key is refused", () => {
  const broken = source.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest");
  assert.notDeepEqual(validateWorkflow(broken).errors, []);
});
