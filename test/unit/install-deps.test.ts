import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

// The sandbox's dependency step on a machine that lacks a package: the path every fresh
// machine takes, which once ended the script (dpkg-query exits 1 for a missing package
// under pipefail). --dry-run runs that branch here without installing anything.
const script = join(__dirname, "..", "..", "sandbox", "install-deps.sh");
const absent = "proxmox-hardening-no-such-package";

test("install-deps.sh --dry-run lists a missing package, not an installed one, and exits 0", () => {
  const result = spawnSync("bash", [script, "--dry-run", absent, "bash"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(result.status, 0, `exit ${result.status}\n${result.stderr}`);
  const wouldInstall = result.stdout.split("\n").filter(Boolean);
  assert.ok(wouldInstall.includes(absent), `would install: ${wouldInstall.join(" ")}`);
  assert.ok(!wouldInstall.includes("bash"), "bash is installed on every Debian machine");
  assert.equal(result.stderr, "");
});
