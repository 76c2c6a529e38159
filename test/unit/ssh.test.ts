import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { credentialsFromConfig } from "../../providers/ssh/credentials";
import { atomicWriteScript, factsThenFilesScript, fileDumpScript, parseFileDump, restoreIfChangedScript, restoreInput, restoreScript, splitFactsAndFiles } from "../../providers/ssh/files";
import { HOST_LOCK_PATH, underHostLock } from "../../providers/ssh/lock";
import { fingerprintOf, hostKeyMatches, keyBlobOf } from "../../providers/ssh/hostkey";
import { commandLine, shellQuote } from "../../providers/ssh/quote";
import { hostConnectionSchema } from "../../providers/ssh/schema";

const sh = (script: string, input = "") => execFileSync("sh", ["-c", script], { input, encoding: "utf8" });

test("shellQuote: hostile arguments reach the command as one literal word each", () => {
  const hostile = ["a b", "it's", "$(touch /tmp/pwned)", "`id`", "x;rm -rf /", "new\nline", "", "*", "--flag", "\\", '"'];
  const echoed = sh(`for a in ${commandLine(hostile)}; do printf '<%s>' "$a"; done`);
  assert.equal(echoed, hostile.map((arg) => `<${arg}>`).join(""));
  assert.equal(shellQuote("22/tcp"), "22/tcp");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

const keyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ";

test("host key pinning: key line and SHA256 fingerprint match the presented key, others do not", () => {
  const blob = keyBlobOf(keyLine)!;
  assert.ok(hostKeyMatches(keyLine, blob));
  assert.ok(hostKeyMatches(`${keyLine} root@pve1`, blob));
  assert.ok(hostKeyMatches(fingerprintOf(blob), blob));
  const other = Buffer.from(blob);
  other[other.length - 1] ^= 1;
  assert.ok(!hostKeyMatches(keyLine, other));
  assert.ok(!hostKeyMatches(fingerprintOf(blob), other));
  assert.ok(!hostKeyMatches("garbage", blob));
});

test("host key fingerprint agrees with ssh-keygen", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-key-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "k")]);
    const line = readFileSync(join(dir, "k.pub"), "utf8");
    const printed = execFileSync("ssh-keygen", ["-lf", join(dir, "k.pub")], { encoding: "utf8" }).split(" ")[1];
    assert.equal(fingerprintOf(keyBlobOf(line)!), printed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("connection schema: defaults and refusals", () => {
  const ok = hostConnectionSchema.parse({ name: "pve1", address: "192.0.2.10", hostKey: keyLine });
  assert.equal(ok.port, 22);
  assert.equal(ok.user, "root");
  for (const bad of [
    { name: "pve1;rm", address: "192.0.2.10", hostKey: keyLine },
    { name: "pve1", address: "192.0.2.10 -oProxyCommand=x", hostKey: keyLine },
    { name: "pve1", address: "192.0.2.10", hostKey: "not a key" },
    { name: "pve1", address: "192.0.2.10", hostKey: keyLine, port: 70000 },
    { name: "pve1", address: "192.0.2.10", hostKey: keyLine, user: "root; id" },
    { name: "pve1", address: "192.0.2.10" },
  ]) {
    assert.equal(hostConnectionSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test("connection schema: a key line as the .pub file and ssh-keyscan print it is pinned without its comment or address", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-key-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "root@pve1", "-f", join(dir, "k")]);
    const pub = readFileSync(join(dir, "k.pub"), "utf8");
    const [type, key] = pub.split(" ");
    const pinned = (hostKey: string) => hostConnectionSchema.parse({ name: "pve1", address: "192.0.2.10", hostKey }).hostKey;
    for (const copied of [pub, `192.0.2.10 ${pub}`, `[192.0.2.10]:2222 ${pub.trim()}`, `|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ${type}\t${key}`]) {
      assert.equal(pinned(copied), `${type} ${key}`, JSON.stringify(copied));
      assert.ok(hostKeyMatches(pinned(copied), keyBlobOf(pub)!));
    }
    for (const bad of [`${pub}${pub}`, `${type}`, `root@pve1 ${key}`, `ssh-dss ${key}`]) {
      assert.equal(hostConnectionSchema.safeParse({ name: "pve1", address: "192.0.2.10", hostKey: bad }).success, false, JSON.stringify(bad));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("file dump, atomic write and restore round-trip real files byte for byte", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-files-"));
  try {
    const path = join(dir, "sub dir", "jail's.local");
    const content = "[DEFAULT]\nbantime = 3600\n\n\u00e9 no trailing newline";
    sh(atomicWriteScript(path, "0640", `${process.getuid!()}:${process.getgid!()}`), content);
    assert.equal(readFileSync(path, "utf8"), content);
    const [snapshot, absent] = parseFileDump(sh(fileDumpScript([path, join(dir, "missing")])));
    assert.equal(snapshot.present, true);
    assert.equal(snapshot.mode, "640");
    assert.equal(Buffer.from(snapshot.contentBase64!, "base64").toString("utf8"), content);
    assert.deepEqual(absent, { path: join(dir, "missing"), present: false });
    const [contentOnly] = parseFileDump(sh(fileDumpScript([path], { attributes: false })));
    assert.deepEqual(contentOnly, { ...snapshot, mode: "-", owner: "-" }, "without attributes: the same content, no mode or owner");
    sh(atomicWriteScript(path), "changed");
    sh(restoreScript(snapshot), content);
    assert.equal(readFileSync(path, "utf8"), content);
    sh(restoreScript(absent));
    assert.equal(sh(`ls -A ${commandLine([join(dir, "sub dir")])}`), "jail's.local\n", "no temp files left behind");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("facts and files in one script: the facts' output alone (even one that looks like a dump), then the files", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-facts-"));
  try {
    const path = join(dir, "filter.conf");
    sh(atomicWriteScript(path), "[Definition]\n");
    // A fact whose output is empty, and one that prints a line like the dump's header: neither leaks into the other part.
    const facts = `printf ''\necho '=== proxmox-hardening file present 644 root:root /etc/x'\necho 'journal yes'`;
    const { facts: printed, files } = splitFactsAndFiles(sh(factsThenFilesScript(facts, [path, join(dir, "filter.local")])));
    assert.equal(printed, "=== proxmox-hardening file present 644 root:root /etc/x\njournal yes\n");
    assert.deepEqual(files, parseFileDump(sh(fileDumpScript([path, join(dir, "filter.local")]))));
    assert.equal(files.length, 2);
    assert.deepEqual(splitFactsAndFiles("cut short\n"), { facts: "cut short\n", files: [] }, "no end line: no files, which the caller then reads itself");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("restoreIfChangedScript writes only when the file differs from its snapshot, then runs the follow-up", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-files-"));
  try {
    const path = join(dir, "jail's.local");
    sh(atomicWriteScript(path), "before");
    const [snapshot] = parseFileDump(sh(fileDumpScript([path])));
    const absent = { path: join(dir, "new file"), present: false };
    const follow = "echo reloaded";
    assert.equal(sh(restoreIfChangedScript(snapshot, follow), restoreInput(snapshot)), "unchanged\n");
    assert.equal(sh(restoreIfChangedScript(absent, follow)), "unchanged\n");
    sh(atomicWriteScript(path), "after");
    assert.equal(sh(restoreIfChangedScript(snapshot, follow), restoreInput(snapshot)), "restored\nreloaded\n");
    assert.equal(readFileSync(path, "utf8"), "before");
    sh(`chmod 600 ${commandLine([path])}`);
    assert.equal(sh(restoreIfChangedScript(snapshot), restoreInput(snapshot)), "restored\n", "a changed mode counts as a change");
    assert.equal(statSync(path).mode & 0o777, 0o644);
    sh(atomicWriteScript(absent.path), "ours");
    assert.equal(sh(restoreIfChangedScript(absent)), "restored\n");
    assert.equal(existsSync(absent.path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("host lock serialises two writers", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-lock-"));
  try {
    // Runs locally with the lock file under /run/lock, as on a host.
    const log = join(dir, "log");
    const step = (name: string) => underHostLock(`echo ${name}-start >> ${log}; sleep 0.3; echo ${name}-end >> ${log}`);
    sh(`(${step("a")}) & (${step("b")}) & wait`);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(lines.length, 4);
    assert.equal(lines[0].split("-")[0], lines[1].split("-")[0], "the first writer finished before the second started");
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(HOST_LOCK_PATH, { force: true });
  }
});

test("credentials come from config, shared and per host, and every secret is known for redaction", () => {
  const config = new Map<string, string>([
    ["sshPrivateKey", "-----BEGIN KEY-----xyz"],
    ["sudoPassword", "sudo-secret"],
    ["hostCredentials", JSON.stringify({ pve2: { password: "pve2-secret" } })],
  ]);
  const { lookup, secrets } = credentialsFromConfig({ get: (key) => config.get(key) });
  assert.equal(lookup("pve1").privateKey, "-----BEGIN KEY-----xyz");
  assert.equal(lookup("pve2").password, "pve2-secret");
  assert.equal(lookup("pve2").sudoPassword, "sudo-secret");
  assert.deepEqual(secrets.sort(), ["-----BEGIN KEY-----xyz", "pve2-secret", "sudo-secret"]);
});
