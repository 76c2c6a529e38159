import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { aptFetchFailures, describeFetchFailure, installedFrom, installScript, missingPackages, queryScript, sourcesFilesFrom, sourcesFilesScript, UPDATE_SCRIPT } from "../../providers/packages/logic";
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

test("apt-get update runs on its own, so that a failed repository does not stop the install from the others", () => {
  assert.equal(UPDATE_SCRIPT, "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q update");
  assert.doesNotMatch(installScript(["ufw"]), /update/);
});

// apt-get update on Proxmox VE nodes without a subscription, as reported in public bug threads:
// apt 2.6 (Debian 12, lae/ansible-role-proxmox#290, foundObjects/pve-nag-buster#22) and apt 3 (Debian 13, tis24dev/proxsave#17).
const APT_26 = [
  "Hit:1 http://ftp.debian.org/debian bookworm InRelease",
  "Hit:2 http://security.debian.org bookworm-security InRelease",
  "Err:4 https://enterprise.proxmox.com/debian/ceph-quincy bookworm InRelease",
  "  401  Unauthorized [IP: 51.79.228.122 443]",
  "Err:5 https://enterprise.proxmox.com/debian/pve bookworm InRelease",
  "  401  Unauthorized [IP: 51.79.228.122 443]",
  "Reading package lists...",
  "E: Failed to fetch https://enterprise.proxmox.com/debian/ceph-quincy/dists/bookworm/InRelease  401  Unauthorized [IP: 51.79.228.122 443]",
  "E: The repository 'https://enterprise.proxmox.com/debian/ceph-quincy bookworm InRelease' is not signed.",
  "N: Updating from such a repository can't be done securely, and is therefore disabled by default.",
  "N: See apt-secure(8) manpage for repository creation and user configuration details.",
  "E: Failed to fetch https://enterprise.proxmox.com/debian/pve/dists/bookworm/InRelease  401  Unauthorized [IP: 51.79.228.122 443]",
  "E: The repository 'https://enterprise.proxmox.com/debian/pve bookworm InRelease' is not signed.",
].join("\n");
const APT_3 = [
  "Hit:1 http://deb.debian.org/debian trixie InRelease",
  "Hit:3 http://security.debian.org/debian-security trixie-security InRelease",
  "Err:4 https://enterprise.proxmox.com/debian/pve trixie InRelease",
  "  401  Unauthorized [IP: 66.70.154.82 443]",
  "Error: Failed to fetch https://enterprise.proxmox.com/debian/pve/dists/trixie/InRelease  401  Unauthorized [IP: 66.70.154.82 443]",
  "Error: The repository 'https://enterprise.proxmox.com/debian/pve trixie InRelease' is not signed.",
  "Notice: Updating from such a repository can't be done securely, and is therefore disabled by default.",
].join("\n");

test("apt-get update's failed repositories: apt 2.6 and apt 3 wording, one entry per repository, reason without the IP", () => {
  assert.deepEqual(aptFetchFailures(APT_26), [
    { repository: "https://enterprise.proxmox.com/debian/ceph-quincy", reason: "401 Unauthorized" },
    { repository: "https://enterprise.proxmox.com/debian/pve", reason: "401 Unauthorized" },
  ]);
  assert.deepEqual(aptFetchFailures(APT_3), [{ repository: "https://enterprise.proxmox.com/debian/pve", reason: "401 Unauthorized" }]);
  // A mirror that cannot be resolved (a warning in apt 2.6), and output with no failure at all.
  assert.deepEqual(aptFetchFailures("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'"), [
    { repository: "http://deb.debian.org/debian", reason: "Temporary failure resolving 'deb.debian.org'" },
  ]);
  assert.deepEqual(aptFetchFailures("Hit:1 http://deb.debian.org/debian bookworm InRelease\nReading package lists..."), []);
});

test("a failed repository is described with its file and what to do: the enterprise repository's 401 says subscription, no-subscription, disable", () => {
  const enterprise = describeFetchFailure({ repository: "https://enterprise.proxmox.com/debian/pve", reason: "401 Unauthorized" }, ["/etc/apt/sources.list.d/pve-enterprise.sources"]);
  assert.match(enterprise, /^apt-get update could not fetch https:\/\/enterprise\.proxmox\.com\/debian\/pve \(configured in \/etc\/apt\/sources\.list\.d\/pve-enterprise\.sources\): 401 Unauthorized\. /);
  assert.match(enterprise, /subscription key/);
  assert.match(enterprise, /no-subscription repository \(http:\/\/download\.proxmox\.com\/debian\/pve, component pve-no-subscription\)/);
  assert.match(enterprise, /"Enabled: false"/);
  const mirror = describeFetchFailure({ repository: "http://deb.debian.org/debian", reason: "Temporary failure resolving 'deb.debian.org'" }, []);
  assert.doesNotMatch(mirror, /subscription/);
  assert.match(mirror, /Fix or disable that repository/);
});

test("the sources files naming a repository: found by fixed string in this machine's apt sources, parsed per repository", () => {
  const output = execFileSync("sh", ["-c", sourcesFilesScript(["https://no-such-repository.example/debian"])], { encoding: "utf8" });
  assert.deepEqual([...sourcesFilesFrom(output)], [["https://no-such-repository.example/debian", []]]);
  assert.deepEqual(sourcesFilesFrom("https://enterprise.proxmox.com/debian/pve\t/etc/apt/sources.list.d/pve-enterprise.list \n").get("https://enterprise.proxmox.com/debian/pve"), ["/etc/apt/sources.list.d/pve-enterprise.list"]);
});

test("package names: Debian's grammar only", () => {
  for (const good of ["ufw", "python3-systemd", "libstdc++6"]) assert.ok(packageNameSchema.safeParse(good).success, good);
  for (const bad of ["UFW", "ufw;reboot", "-oAPT::x", "a", "ufw fail2ban"]) assert.equal(packageNameSchema.safeParse(bad).success, false, bad);
});
