// The fail2ban write-and-test and reload scripts, run for real with sh against
// a fake `fail2ban-client` (whose test fails when the files say so).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { ALREADY_FAILING_NOTE, reloadScript, TEST_FAILED_EXIT, testedWriteScript, WAS_RUNNING } from "../../providers/fail2ban/service";
import { fileDumpScript, parseFileDump } from "../../providers/ssh/files";

let dir: string;
let path: string;

/** `fail2ban-client -t` fails while any file in `dir` says "broken". */
function fakeFail2banClient(): string {
  const bin = join(dir, "bin");
  execFileSync("mkdir", ["-p", bin]);
  const fake = join(bin, "fail2ban-client");
  writeFileSync(fake, `#!/bin/sh\nif grep -rqs broken ${JSON.stringify(join(dir, "etc"))}; then echo "ERROR  No file(s) found for glob /var/log/auth.log" >&2; exit 255; fi\necho OK\n`);
  chmodSync(fake, 0o755);
  return bin;
}

function write(content: string) {
  const [before] = parseFileDump(execFileSync("sh", ["-c", fileDumpScript([path])], { encoding: "utf8" }));
  const bin = fakeFail2banClient();
  return spawnSync("sh", ["-c", testedWriteScript(path, content, before)], { input: content, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: join(dir, "tmp") } });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "phs-f2b-"));
  path = join(dir, "etc", "jail.d", "jail's.local");
  execFileSync("mkdir", ["-p", join(dir, "etc", "jail.d"), join(dir, "tmp")]);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a file that passes the test is written, with no note", () => {
  const result = write("[sshd]\nenabled = true\n");
  assert.equal(result.status, 0, result.stderr);
  assert.equal(readFileSync(path, "utf8"), "[sshd]\nenabled = true\n");
  assert.equal(statSync(path).mode & 0o777, 0o644);
  assert.doesNotMatch(result.stderr, /note/);
});

test("a file that breaks the test is taken back: the old bytes and mode are in place, fail2ban's answer is on stderr", () => {
  writeFileSync(path, "old\n", { mode: 0o640 });
  const result = write("broken\n");
  assert.equal(result.status, TEST_FAILED_EXIT);
  assert.match(result.stderr, /No file\(s\) found/);
  assert.equal(readFileSync(path, "utf8"), "old\n");
  assert.equal(statSync(path).mode & 0o777, 0o640);
});

test("a new file that breaks the test is removed again", () => {
  const result = write("broken\n");
  assert.equal(result.status, TEST_FAILED_EXIT);
  assert.equal(existsSync(path), false);
});

test("a configuration that failed before keeps the new file, with the note", () => {
  writeFileSync(join(dir, "etc", "jail.d", "defaults-debian.conf"), "broken (stock sshd jail, no auth.log)\n");
  const result = write("[proxmox]\nenabled = true\n");
  assert.equal(result.status, 0, result.stderr);
  assert.equal(readFileSync(path, "utf8"), "[proxmox]\nenabled = true\n");
  assert.ok(result.stderr.includes(ALREADY_FAILING_NOTE));
});

test("no temp file or directory is left behind", () => {
  write("broken\n");
  write("fine\n");
  assert.equal(execFileSync("ls", ["-A", join(dir, "etc", "jail.d")], { encoding: "utf8" }), "jail's.local\n");
  assert.equal(execFileSync("ls", ["-A", join(dir, "tmp")], { encoding: "utf8" }), "", "the script's work directory is gone");
});

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
