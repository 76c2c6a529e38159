import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { installedFrom, installScript, missingPackages, queryScript } from "../../providers/packages/logic";
import { packageNameSchema } from "../../providers/packages/schema";

test("dpkg query: installed packages are recognised on this Debian machine, unknown ones are missing", () => {
  const output = execFileSync("sh", ["-c", queryScript(["dpkg", "no-such-package-xyz"])], { encoding: "utf8" });
  const installed = installedFrom(output);
  assert.ok(installed.has("dpkg"));
  assert.deepEqual(missingPackages(["dpkg", "no-such-package-xyz"], installed), ["no-such-package-xyz"]);
});

test("apt runs only for missing packages, noninteractive, waiting for apt's own lock", () => {
  const script = installScript(["ufw", "fail2ban"]);
  assert.match(script, /DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q -y install --no-install-recommends ufw fail2ban$/);
});

test("package names: Debian's grammar only", () => {
  for (const good of ["ufw", "python3-systemd", "libstdc++6"]) assert.ok(packageNameSchema.safeParse(good).success, good);
  for (const bad of ["UFW", "ufw;reboot", "-oAPT::x", "a", "ufw fail2ban"]) assert.equal(packageNameSchema.safeParse(bad).success, false, bad);
});
