import assert from "node:assert/strict";
import { test } from "node:test";
import pkg from "../../package.json";
import { PREFLIGHT_CREATE_NOTE } from "../../providers/preflight/provider";
import { typeTokenOf } from "../../providers/core/shim";
import { changelogReleases, parseChangelog, stepsSince } from "../support/releases";

// CHANGELOG.md is read by the upgrade test (which releases to deploy with, which steps an
// upgrade may show): a section it cannot read must fail here, in seconds, not skip there.

const release = (version: string, steps: string, commit?: string) => `## ${version} (${commit ? `commit ${commit}` : "unreleased"})\n\n### Shows in the first preview after upgrading\n\n${steps}\n\n### Changed\n\n- x\n`;
const oldest = "## 0.1.0 (commit db367b1336cc418a5387d3fb4746a583c5018c1b)\n\nThe first release.\n";
const row = (op: string) => `| step | resource | why |\n| --- | --- | --- |\n| ${op} | \`pulumi-nodejs:dynamic/proxmox-hardening:hostPreflight\` | checks each node before any change |`;

test("CHANGELOG.md: the version package.json carries, and at least one release to upgrade from", () => {
  const releases = changelogReleases();
  assert.equal(releases[0].version, pkg.version);
  assert.ok(releases.some((r) => r.commit === "db367b1336cc418a5387d3fb4746a583c5018c1b"), "0.1.0, the release before the upgrade test existed");
});

test("CHANGELOG.md quotes for the preflight's create on upgrading what its provider says when one is planned", () => {
  const steps = changelogReleases().flatMap((release) => release.upgradeSteps).filter((step) => step.type === typeTokenOf("host:Preflight"));
  assert.deepEqual(steps.map((step) => [step.op, step.why]), [["create", PREFLIGHT_CREATE_NOTE]]);
});

test("a table of steps is read; the steps of every newer release apply to an upgrade", () => {
  const releases = parseChangelog(`# Changelog\n\n${release("0.3.0", row("update"))}${release("0.2.0", row("create"), "0123456789abcdef0123456789abcdef01234567")}${oldest}`);
  assert.deepEqual(releases.map((r) => r.version), ["0.3.0", "0.2.0", "0.1.0"]);
  assert.deepEqual(stepsSince(releases, releases[2]).map((s) => s.op), ["update", "create"]);
  assert.deepEqual(stepsSince(releases, releases[1]).map((s) => s.op), ["update"]);
  assert.deepEqual(releases[1].upgradeSteps[0], { op: "create", type: "pulumi-nodejs:dynamic/proxmox-hardening:hostPreflight", why: "checks each node before any change" });
  assert.deepEqual(parseChangelog(`${release("0.2.0", "Nothing: all same.")}${oldest}`)[0].upgradeSteps, []);
});

test("a section the upgrade test cannot read is refused with the release named", () => {
  assert.throws(() => parseChangelog(`${release("0.2.0", row("replace"))}${oldest}`), /0\.2\.0: cannot read the upgrade step .*replace/);
  assert.throws(() => parseChangelog(`${release("0.2.0", row("delete"))}${oldest}`), /0\.2\.0: cannot read the upgrade step .*delete/);
  assert.throws(() => parseChangelog(`${release("0.2.0", "Some prose.")}${oldest}`), /0\.2\.0: .* neither "Nothing" nor a table/);
  assert.throws(() => parseChangelog(`## 0.2.0 (unreleased)\n\n### Changed\n${oldest}`), /0\.2\.0: no "### Shows in the first preview after upgrading"/);
  assert.throws(() => parseChangelog(`${release("0.3.0", "Nothing.")}${release("0.2.0", "Nothing.", "db367b1")}${oldest}`), /0\.2\.0: the heading of an earlier release names its full commit/);
});
