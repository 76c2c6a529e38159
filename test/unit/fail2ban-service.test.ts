// fail2ban's reload script, run for real with sh against a fake
// `fail2ban-client` that logs its calls.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { reloadScript, WAS_RUNNING } from "../../providers/fail2ban/service";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "phs-f2b-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A running fail2ban whose `status` lists, on its n-th call, line n of
 * `jail-lists` (the last line from then on); every call is logged.
 */
function fakeRunningFail2ban(jailLists: string[]): { bin: string; calls: () => string[] } {
  const bin = join(dir, "bin");
  const log = join(dir, "calls");
  writeFileSync(join(dir, "jail-lists"), `${jailLists.join("\n")}\n`);
  execFileSync("mkdir", ["-p", bin]);
  const script = [
    "#!/bin/sh",
    `echo "$*" >> ${JSON.stringify(log)}`,
    'if [ "$1" = status ] && [ $# = 1 ]; then',
    `  n=$(grep -c '^status$' ${JSON.stringify(log)}); total=$(wc -l < ${JSON.stringify(join(dir, "jail-lists"))})`,
    '  [ "$n" -gt "$total" ] && n=$total',
    `  printf 'Status\n|- Number of jail:\t2\n\`- Jail list:\t%s\n' "$(sed -n "\${n}p" ${JSON.stringify(join(dir, "jail-lists"))})"`,
    "fi",
    "exit 0",
  ].join("\n");
  writeFileSync(join(bin, "fail2ban-client"), script, { mode: 0o755 });
  // Never the machine's own service manager, should this machine run systemd.
  writeFileSync(join(bin, "systemctl"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  return { bin, calls: () => readFileSync(log, "utf8").trim().split("\n") };
}

test("the reload waits until every jail is in fail2ban's jail list, with one status call per try", () => {
  // proxmox-web is not proxmox: the second try finds both jails.
  const fake = fakeRunningFail2ban(["sshd, proxmox-web", "sshd, proxmox-web, proxmox"]);
  const result = spawnSync("sh", ["-c", reloadScript(["sshd", "proxmox"])], { encoding: "utf8", env: { ...process.env, PATH: `${fake.bin}:${process.env.PATH}` } });
  assert.equal(result.status, 0, result.stderr);
  assert.ok(result.stdout.includes(WAS_RUNNING));
  assert.deepEqual(fake.calls(), ["-t", "ping", "reload", "status", "status"]);
});
