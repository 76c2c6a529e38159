import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { beforeKey, BeforeEntry, forgetScript, MANAGED_ELSEWHERE_EXIT, parseElsewhere, parseRemembered, recordPath, rememberScript, rememberThenChangeScript, splitAtChange } from "../../providers/ssh/before";

// The records of what a node had before a stack changed it (issue 15), run
// with sh in a temp directory standing in for /var/lib/proxmox-hardening.

const sh = (script: string) => execFileSync("sh", ["-c", script], { encoding: "utf8" });

function withRoot(body: (root: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "phs-before-"));
  try {
    body(join(dir, "proxmox-hardening", "before"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const remember = <T>(root: string, owner: string, host: string, entries: BeforeEntry<T>[]) => parseRemembered(sh(rememberScript(owner, host, entries, root)), owner, host, entries, root);

test("the first record wins: a later create gets what the node had before the first try, not what it finds", () => {
  withRoot((root) => {
    const key = beforeKey("ufw-rule", '["in","tcp","9100"]');
    assert.deepEqual(remember(root, "proj/prod", "pve1", [{ key, what: "rule", before: { stored: [null] } }]), [{ stored: [null] }]);
    // The cut run added the rule; the next create sees it and must not take it for the admin's.
    const again = remember(root, "proj/prod", "pve1", [{ key, what: "rule", before: { stored: [{ action: "allow" }] } }]);
    assert.deepEqual(again, [{ stored: [null] }]);
    const path = recordPath("proj/prod", "pve1", key, root);
    // root's alone: a record holds copies of what it saves (ufw's user.rules is 0640 on Debian)
    assert.equal(statSync(path).mode & 0o777, 0o600);
    for (const dir of [root, join(root, "proj"), join(root, "proj", "prod"), join(root, "proj", "prod", "pve1")]) assert.equal(statSync(dir).mode & 0o777, 0o700, dir);
    assert.deepEqual(readdirSync(join(root, "proj", "prod", "pve1")), [`${key}.json`], "no temp file left");
  });
});

test("records of two stacks, and of two host entries of one stack, never mix", () => {
  withRoot((root) => {
    assert.deepEqual(remember(root, "proj/prod", "pve1", [{ key: "package-ufw", what: "package ufw", before: "prod" }]), ["prod"]);
    assert.deepEqual(remember(root, "proj/test", "pve1", [{ key: "package-fail2ban", what: "package fail2ban", before: "test" }]), ["test"]);
    assert.deepEqual(remember(root, "proj/prod", "pve1", [{ key: "package-ufw", what: "package ufw", before: "later" }]), ["prod"]);
    assert.deepEqual(readdirSync(join(root, "proj")).sort(), ["prod", "test"]);
  });
});

test("a thing another stack or host entry has a record of is refused, naming them, and nothing is written", () => {
  withRoot((root) => {
    const entries = [
      { key: "ufw-defaults", what: "ufw's default policies", before: "mine" },
      { key: "package-ufw", what: "package ufw", before: "mine" },
    ];
    remember(root, "proj/prod", "pve1", [entries[1]]);
    remember(root, "other/prod", "pve1", [entries[0]]);
    for (const [owner, host] of [["proj/test", "pve1"], ["proj/prod", "pve1b"]]) {
      const result = spawnSync("sh", ["-c", rememberScript(owner, host, entries, root)], { encoding: "utf8" });
      assert.equal(result.status, MANAGED_ELSEWHERE_EXIT, result.stderr);
      assert.deepEqual(
        parseElsewhere(result.stdout, entries, root).sort((a, b) => a.owner.localeCompare(b.owner)),
        [
          { owner: "other/prod", host: "pve1", what: "ufw's default policies" },
          { owner: "proj/prod", host: "pve1", what: "package ufw" },
        ],
      );
      assert.ok(!existsSync(join(root, ...owner.split("/"), host)), `${owner} ${host}: nothing written`);
    }
  });
});

test("several entries in one script, in order; unknown entries fail to parse", () => {
  withRoot((root) => {
    const entries = [
      { key: "pve-option-c-enable", what: "enable", before: null as string | null },
      { key: "pve-option-c-policy_in", what: "policy_in", before: "DROP" as string | null },
    ];
    assert.deepEqual(remember(root, "p/s", "pve1", entries), [null, "DROP"]);
    assert.throws(() => parseRemembered("", "p/s", "pve1", entries, root), /was not written/);
  });
});

test("forget removes the records, then every directory it empties, up to the program's own directory", () => {
  withRoot((root) => {
    remember(root, "p/s", "pve1", [{ key: "a", what: "a", before: 1 }, { key: "b", what: "b", before: 2 }]);
    remember(root, "p/t", "pve1", [{ key: "c", what: "c", before: 3 }]);
    sh(forgetScript("p/s", "pve1", ["a"], root));
    assert.deepEqual(readdirSync(join(root, "p", "s", "pve1")), ["b.json"], "the other record stays");
    sh(forgetScript("p/s", "pve1", ["b"], root));
    assert.ok(!existsSync(join(root, "p", "s")), "the stack's directories go with its last record");
    assert.deepEqual(readdirSync(join(root, "p")), ["t"], "another stack's stay");
    sh(forgetScript("p/t", "pve1", ["c"], root));
    assert.ok(!existsSync(join(root, "..")), "nothing left of the program's directory");
    sh(forgetScript("p/t", "pve1", ["c"], root));
  });
});

test("a temp file left by a killed writer neither stops the next record nor outlives the records", () => {
  withRoot((root) => {
    const dir = join(root, "p", "s", "pve1");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".proxmox-hardening.record"), '{"half');
    assert.deepEqual(remember(root, "p/s", "pve1", [{ key: "a", what: "a", before: "quote ' and $(x)" }]), ["quote ' and $(x)"]);
    assert.deepEqual(readdirSync(dir), ["a.json"], "the temp file was the next write's, and was renamed");
    assert.equal(readFileSync(join(dir, "a.json"), "utf8"), '{"owner":"p/s","host":"pve1","what":"a","before":"quote \' and $(x)"}\n');
    writeFileSync(join(dir, ".proxmox-hardening.record"), '{"half');
    writeFileSync(join(dir, ".proxmox-hardening.Ab12Cd"), '{"half'); // atomicWriteScript's, from before records had their own writer
    sh(forgetScript("p/s", "pve1", ["a"], root));
    assert.ok(!existsSync(join(root, "..")), "forget removed the temp file with the records, and then the directories");
  });
});

test("a change in the record's round trip runs after every record is written, with its own stdin, output and exit code", () => {
  withRoot((root) => {
    const entries = [{ key: "ufw-activation", what: "ufw on or off", before: { enabled: false } }];
    const marker = join(root, "..", "changed");
    // The change sees the record already there, reads stdin whole, and its exit code is the script's (even the refusal's own 76).
    const change = `set -e\n[ -f ${recordPath("p/s", "pve1", "ufw-activation", root)} ]\ncat > ${marker}\numask\necho done\nexit ${MANAGED_ELSEWHERE_EXIT}`;
    const ran = spawnSync("sh", ["-c", `umask 027\n${rememberThenChangeScript(rememberScript("p/s", "pve1", entries, root), change)}`], { encoding: "utf8", input: "new content\n" });
    const split = splitAtChange({ stdout: ran.stdout, stderr: ran.stderr, code: ran.status ?? -1 });
    assert.equal(split.change?.code, MANAGED_ELSEWHERE_EXIT, ran.stderr);
    assert.equal(split.change?.stdout, "0027\ndone\n", "the change's output alone, under the caller's umask (the record's stays in its subshell)");
    assert.deepEqual(parseRemembered(split.records, "p/s", "pve1", entries, root), [{ enabled: false }]);
    assert.equal(readFileSync(marker, "utf8"), "new content\n");
  });
});

test("a refused record never starts the change: no marker, the refusal's exit code and records", () => {
  withRoot((root) => {
    const entries = [{ key: "ufw-defaults", what: "ufw's default policies", before: "mine" }];
    remember(root, "other/prod", "pve1", entries);
    const marker = join(root, "..", "changed");
    const ran = spawnSync("sh", ["-c", rememberThenChangeScript(rememberScript("p/s", "pve1", entries, root), `touch ${marker}`)], { encoding: "utf8" });
    const split = splitAtChange({ stdout: ran.stdout, stderr: ran.stderr, code: ran.status ?? -1 });
    assert.equal(ran.status, MANAGED_ELSEWHERE_EXIT);
    assert.equal(split.change, undefined);
    assert.deepEqual(parseElsewhere(split.records, entries, root), [{ owner: "other/prod", host: "pve1", what: "ufw's default policies" }]);
    assert.ok(!existsSync(marker), "the change did not run");
  });
});

test("owner, host and key cannot leave the records' directory", () => {
  for (const [owner, host, key] of [["../x", "pve1", "k"], ["p/../../etc", "pve1", "k"], ["p/s", "..", "k"], ["p/s", "pve1", "../k"], ["p/s", "pve1", "a/b"], ["p/s", "pve1", "$(reboot)"]]) {
    assert.throws(() => recordPath(owner, host, key), /not a record/, `${owner} ${host} ${key}`);
  }
  assert.match(beforeKey("fail2ban-file", "/etc/fail2ban/jail.d/x y.local"), /^fail2ban-file-[0-9a-f]{16}$/);
});
