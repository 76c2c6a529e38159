// The fail2ban write-and-test script, run for real with sh against a fake
// `fail2ban-client` whose test fails when the files say so.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { ALREADY_FAILING_NOTE, TEST_FAILED_EXIT, testedWriteScript } from "../../providers/fail2ban/service";
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
