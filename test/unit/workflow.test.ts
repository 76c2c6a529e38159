import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { validateWorkflow } from "@action-validator/core";
import { parse } from "yaml";

const root = join(__dirname, "..", "..");
const workflowsDir = join(root, ".github", "workflows");
const previewSource = readFileSync(join(workflowsDir, "preview.yml"), "utf8");
const driftSource = readFileSync(join(workflowsDir, "drift.yml"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const readme = readFileSync(join(root, "README.md"), "utf8");

interface Step { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job { steps: Step[]; environment?: string; env?: Record<string, string> }

const secretsOf = (source: string) => new Set([...source.matchAll(/\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}/g)].map((m) => m[1]));

/** A README section, from its heading to the next heading of the same or a higher level. */
function readmeSection(heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has "${heading}"`);
  const level = heading.split(" ")[0];
  const rest = readme.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`^#{1,${level.length}} `, "m"));
  return next < 0 ? rest : rest.slice(0, next);
}

test("both workflows are valid against GitHub's workflow schema", () => {
  for (const source of [previewSource, driftSource]) assert.deepEqual(validateWorkflow(source).errors, []);
});

test("the pull-request workflow previews the prod stack and can read no SSH key", () => {
  const workflow = parse(previewSource);
  assert.ok("pull_request" in workflow.on, "runs on pull requests");
  const job: Job = workflow.jobs.preview;
  const pulumi = job.steps.find((step) => step.uses?.startsWith("pulumi/actions@"));
  assert.equal(pulumi?.with?.command, "preview");
  assert.equal(pulumi?.with?.["stack-name"], "prod");
  assert.equal(pulumi?.with?.refresh, undefined, "no --refresh: preview then opens no SSH connection");
  assert.equal(pulumi?.with?.["pulumi-version"], pkg.devDependencies.pulumi, "the CI uses the CLI version the project pins");
  assert.doesNotMatch(previewSource, /sshPrivateKey|SSH_PRIVATE_KEY|sudoPassword/i, "no SSH credential is given to the job");
  for (const name of Object.keys(workflow.jobs)) assert.equal(workflow.jobs[name].environment, undefined, "no job in an environment, whose secrets (the key) it could read");
});

test("the pull-request workflow's unit tests build no toolchain", () => {
  const runs = parse(previewSource).jobs.preview.steps.map((step: Step) => step.run).filter(Boolean);
  assert.ok(runs.includes("npm run test:unit"), runs.join(" | "));
  assert.ok(!runs.some((run: string) => /^npm (run )?test\b(?!:)/.test(run)), "not `npm test`, whose pretest runs scripts/setup.mjs");
  assert.equal(pkg.scripts["test:unit"], "node scripts/run-tests.mjs unit");
  assert.equal(pkg.scripts["pretest:unit"], undefined, "npm would run a pretest:unit hook first");
});

test("the drift check is scheduled, previews prod with refresh and fails on changes, and is the one job with the key", () => {
  const workflow = parse(driftSource);
  assert.ok(Array.isArray(workflow.on.schedule) && workflow.on.schedule.length > 0, "runs on a schedule");
  const jobs = Object.values(workflow.jobs) as Job[];
  assert.equal(jobs.length, 1);
  const [job] = jobs;
  assert.equal(job.environment, "prod", "the key is a secret of the prod environment");
  const runs = job.steps.map((step) => step.run ?? "");
  assert.ok(runs.some((run) => /^npx pulumi preview --stack prod --refresh --expect-no-changes --diff$/m.test(run)), runs.join(" | "));
  const keyStep = job.steps.find((step) => step.env?.PROD_SSH_PRIVATE_KEY);
  assert.match(keyStep?.run ?? "", /sshPrivateKeyPath "\$RUNNER_TEMP\/prod_ssh_key"/, "the key reaches the program as a file, by path");
  assert.ok(!secretsOf(previewSource).has("PROD_SSH_PRIVATE_KEY"));
});

test("every secret the workflows use is one the README tells a team to set", () => {
  const documented = readmeSection("### Backends and secrets") + readmeSection("### In CI: preview on pull requests, a daily drift check");
  for (const [file, source] of [["preview.yml", previewSource], ["drift.yml", driftSource]]) {
    for (const name of secretsOf(source)) assert.ok(documented.includes(`\`${name}\``), `${file}: secrets.${name} is not in the README`);
  }
  for (const name of ["PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "AWS_ACCESS_KEY_ID", "AZURE_STORAGE_KEY", "GOOGLE_CREDENTIALS"]) {
    assert.ok(secretsOf(previewSource).has(name) && secretsOf(driftSource).has(name), `both jobs get ${name}`);
  }
});

test("the schema check can fail: a workflow with a misspelt key is refused", () => {
  const broken = previewSource.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest");
  assert.notDeepEqual(validateWorkflow(broken).errors, []);
});
