// The config-file module's write-and-test script, run for real with sh against
// a fake test command (which fails while a file says "broken"), named by a path
// with a space and a quote in it: the script must quote it to run it at all.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { ALREADY_FAILING_NOTE, ConfigTest, digestOf, TEST_FAILED_EXIT, testedWriteScript } from "../../providers/configfile/logic";
import { fileDumpScript, parseFileDump } from "../../providers/ssh/files";

let dir: string;
let path: string;

/** A test command that wants exactly `-t` and fails while any file under etc/ says "broken". */
function fakeTest(retestPrevious?: ConfigTest["retestPrevious"]): ConfigTest {
  const bin = join(dir, "bin's dir");
  mkdirSync(bin, { recursive: true });
  const fake = join(bin, "check config");
  writeFileSync(fake, `#!/bin/sh\n[ "$*" = -t ] || { echo "wrong arguments: $*" >&2; exit 2; }\nif grep -rqs broken ${JSON.stringify(join(dir, "etc"))}; then echo "ERROR  No file(s) found for glob /var/log/auth.log" >&2; exit 255; fi\necho OK\n`, { mode: 0o755 });
  return { argv: [fake, "-t"], keeps: "the service keeps its configuration", ...(retestPrevious ? { retestPrevious } : {}) };
}

function write(content: string, test = fakeTest({ lastWord: "the reload tests it" })) {
  const [before] = parseFileDump(execFileSync("sh", ["-c", fileDumpScript([path])], { encoding: "utf8" }));
  return spawnSync("sh", ["-c", testedWriteScript(path, content, before, test)], { input: content, encoding: "utf8", env: { ...process.env, TMPDIR: join(dir, "tmp") } });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "phs-cf-"));
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

test("a file that breaks the test is taken back: the old bytes and mode are in place, the test's answer is on stderr", () => {
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

test("with retestPrevious, a configuration that failed before keeps the new file, with the note", () => {
  writeFileSync(join(dir, "etc", "jail.d", "defaults-debian.conf"), "broken (stock sshd jail, no auth.log)\n");
  const result = write("[proxmox]\nenabled = true\n");
  assert.equal(result.status, 0, result.stderr);
  assert.equal(readFileSync(path, "utf8"), "[proxmox]\nenabled = true\n");
  assert.ok(result.stderr.includes(ALREADY_FAILING_NOTE));
});

test("without retestPrevious, a failing test always takes the file back, even when the configuration failed before", () => {
  writeFileSync(join(dir, "etc", "jail.d", "defaults-debian.conf"), "broken (stock sshd jail, no auth.log)\n");
  writeFileSync(path, "old\n");
  const result = write("[proxmox]\nenabled = true\n", fakeTest());
  assert.equal(result.status, TEST_FAILED_EXIT);
  assert.match(result.stderr, /No file\(s\) found/);
  assert.equal(readFileSync(path, "utf8"), "old\n");
  assert.doesNotMatch(result.stderr, /note/);
});

test("no temp file or directory is left behind", () => {
  write("broken\n");
  write("fine\n");
  assert.equal(execFileSync("ls", ["-A", join(dir, "etc", "jail.d")], { encoding: "utf8" }), "jail's.local\n");
  assert.equal(execFileSync("ls", ["-A", join(dir, "tmp")], { encoding: "utf8" }), "", "the script's work directory is gone");
});

test("digestOf is short and changes with the content", () => {
  assert.equal(digestOf("a").length, 16);
  assert.notEqual(digestOf("a"), digestOf("a\n"));
});
