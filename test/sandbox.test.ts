/**
 * Acceptance tests of the sandbox (real namespaces, real sshd, fail2ban, ufw, rsyslog,
 * journald). Needs root. Run: node --import tsx --test test/sandbox.test.ts
 *
 * All traffic goes to addresses of namespaces these tests create, after checking that the
 * route really leads into the sandbox; every network wait is bounded.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  addClient,
  assertSandboxAddress,
  clientExec,
  down,
  hostExec,
  INVENTORY_PATH,
  PREFIX,
  Inventory,
  readInventory,
  SANDBOX_DIR,
  SandboxClient,
  SandboxHost,
  sshExec,
  tcpProbe,
  up,
  writePvedaemonFailure,
} from "../sandbox";
import { waitForBan } from "../sandbox/attack";

const FIXTURES = path.join(__dirname, "fixtures", "sandbox");

// ---- the machine's state, which the sandbox must not change ----------------------------

const WATCHED = [
  "/etc/ufw",
  "/etc/default/ufw",
  "/etc/fail2ban",
  "/etc/pve",
  "/etc/ssh",
  "/etc/passwd",
  "/etc/shadow",
  "/etc/group",
  "/etc/gshadow",
  "/etc/sudoers",
  "/etc/sudoers.d",
  "/etc/hostname",
  "/etc/hosts",
  "/etc/machine-id",
  "/etc/default/locale",
  "/etc/rsyslog.conf",
  "/etc/rsyslog.d",
  "/var/lib/fail2ban",
  "/var/lib/ufw",
  "/root/.ssh",
];

function checksums(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      out[p] = "absent";
      return;
    }
    if (st.isDirectory()) {
      out[p] = `dir ${st.mode.toString(8)}`;
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else if (st.isSymbolicLink()) {
      out[p] = `link ${fs.readlinkSync(p)}`;
    } else if (st.isFile()) {
      out[p] = `${st.mode.toString(8)} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`;
    } else {
      out[p] = `special ${st.mode.toString(8)}`;
    }
  };
  for (const p of WATCHED) walk(p);
  return out;
}

function firewall(): string {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      return `ERROR ${(e as Error).message}`;
    }
  };
  const strip = (s: string) => s.split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return [
    "== iptables-save",
    strip(run("iptables-save", [])),
    "== ip6tables-save",
    strip(run("ip6tables-save", [])),
    "== nft list ruleset",
    run("nft", ["list", "ruleset"]),
  ].join("\n");
}

/** Daemons in the machine's own mount namespace (none may be started by the sandbox). */
function machineDaemons(): string[] {
  const rootMnt = fs.readlinkSync("/proc/self/ns/mnt");
  const found: string[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/mnt`) !== rootMnt) continue;
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      if (/(^|\/)(sshd|rsyslogd|systemd-journald|fail2ban-server)( |$)|fail2ban-server/.test(cmd)) found.push(`${e} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

function isHostInit(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith(`${PREFIX}init`);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 250 ms, at most `timeoutMs`. */
async function eventually(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return;
    await sleep(250);
  }
  assert.fail(`timed out after ${timeoutMs} ms: ${what}`);
}

async function ok(host: SandboxHost, cmd: string, input?: string): Promise<string> {
  const r = await hostExec(host, cmd, { input, timeoutMs: 30_000 });
  assert.equal(r.code, 0, `${host.name}: ${cmd}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

/** One bounded TCP connect from a client namespace: true when it connects. */
async function clientConnects(c: SandboxClient, addr: string, port: number): Promise<boolean> {
  await assertSandboxAddress(addr);
  const six = addr.includes(":") ? "-6" : "-4";
  const r = await clientExec(c, `nc ${six} -z -w 2 ${addr} ${port}`, { timeoutMs: 10_000 });
  return r.code === 0;
}

const PVEDAEMON_FILTER = `# test-only pvedaemon filter (the project ships its own)
[Definition]
failregex = pvedaemon\\[\\d+\\]: authentication failure; rhost=(?:::ffff:)?<HOST> user=\\S* msg=.*$
ignoreregex =
journalmatch = SYSLOG_IDENTIFIER=pvedaemon
`;

function pvedaemonJail(backend: "auto" | "systemd"): string {
  const lines = ["[pvedaemon]", "enabled = true", "port = 8006", "filter = sandbox-pvedaemon", "maxretry = 3", "findtime = 600", "bantime = 600"];
  if (backend === "systemd") return ["[sshd]", "backend = systemd", "", ...lines, "backend = systemd", ""].join("\n");
  return [...lines, "logpath = /var/log/syslog", "backend = auto", ""].join("\n");
}

async function startListener(host: SandboxHost, port: number): Promise<void> {
  await ok(host, `setsid python3 -m http.server --bind :: ${port} >/dev/null 2>&1 </dev/null &`);
  await eventually(`${host.name} listens on ${port}`, 10_000, async () => {
    const r = await hostExec(host, `ss -Hltn 'sport = :${port}' | grep -q LISTEN`);
    return r.code === 0;
  });
}

// ---- fixture ---------------------------------------------------------------------------

let inv: Inventory;
let pve1: SandboxHost; // syslog: ufw test
let pve2: SandboxHost; // syslog: fail2ban (file backend)
let pve3: SandboxHost; // journald: fail2ban (systemd backend)
let attacker: SandboxClient;
let other: SandboxClient;
let machineFirewallBefore = "";
let checksumsBefore: Record<string, string> = {};

before(async () => {
  // Package installation may legitimately change /etc; it is done before the snapshot.
  execFileSync("bash", [path.join(__dirname, "..", "sandbox", "install-deps.sh")], { stdio: "inherit" });
  await down();
  machineFirewallBefore = firewall();
  checksumsBefore = checksums();
  assert.deepEqual(machineDaemons(), [], "daemons already running on the machine before the test");
}, { timeout: 300_000 });

// Ctrl-C or a kill of the test runner: remove the sandbox before exiting.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    void down().finally(() => process.exit(130));
  });
}

after(async () => {
  // Also after a failed or interrupted test: leave nothing behind.
  await down();
}, { timeout: 300_000 });

// ---- tests -----------------------------------------------------------------------------

test("up starts hosts, writes the inventory, and a re-run replaces leftovers", { timeout: 180_000 }, async () => {
  // Namespace hosts: this file tests the namespace-host sandbox itself (nodes: test/nodes.test.ts).
  await up({ count: 2, installDeps: false }); // the "crashed" earlier run
  const first = readInventory();
  inv = await up({ count: 3, modes: ["syslog", "syslog", "journald"], installDeps: false });
  assert.equal(inv.hosts.length, 3);
  for (const old of first.hosts) assert.ok(!isHostInit(old.pid), `${old.name} of the first run still runs`);
  [pve1, pve2, pve3] = inv.hosts;
  assert.deepEqual(readInventory(), inv);
  assert.match(inv.network.ipv4, /^(192\.0\.2|198\.51\.100|203\.0\.113)\.(0|64|128|192)\/26$/);
  assert.match(inv.network.ipv6, /^2001:db8:[0-9a-f]+::\/64$/);
  for (const h of inv.hosts) {
    assert.match(h.name, /^pve\d+$/);
    assert.equal(h.netns, `${PREFIX}${h.name}`);
    assert.equal(h.sshPort, 22);
    assert.equal(h.user, "root");
    assert.ok(path.isAbsolute(h.privateKeyPath) && fs.existsSync(h.privateKeyPath));
    assert.match(h.hostPublicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    const fp = execFileSync("ssh-keygen", ["-lf", "-"], { input: h.hostPublicKey, encoding: "utf8" });
    assert.ok(fp.includes(h.hostKeyFingerprint), `${fp} vs ${h.hostKeyFingerprint}`);
    assert.equal(h.sudoUser.name, "ops");
    assert.ok(h.sudoUser.password.length >= 12);
    assert.ok(fs.existsSync(`/proc/${h.pid}`));
    await assertSandboxAddress(h.address);
    await assertSandboxAddress(h.address6);
  }
  assert.deepEqual(inv.hosts.map((h) => h.mode), ["syslog", "syslog", "journald"]);
  assert.equal(fs.readFileSync(INVENTORY_PATH, "utf8").includes('"machineAddress"'), true);
  attacker = await addClient("attacker");
  other = await addClient("other");
  assert.notEqual(attacker.address, other.address);
});

test("SSH: pinned host key accepted, wrong pinned key refused, sudo user with password", { timeout: 60_000 }, async () => {
  const r = await sshExec(pve1, "hostname; id -un");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "pve1\nroot\n");
  const r6 = await sshExec(pve1, "hostname", { ipv6: true });
  assert.equal(r6.stdout, "pve1\n");
  await assert.rejects(sshExec(pve1, "true", { hostPublicKey: pve2.hostPublicKey, timeoutMs: 15_000 }), /verification failed/i);
  const s = await sshExec(pve1, "sudo -S -p '' id -un", { asSudoUser: true, input: `${pve1.sudoUser.password}\n` });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, "root\n");
  const bad = await sshExec(pve1, "sudo -S -p '' id -un", { asSudoUser: true, input: "wrong\n" });
  assert.notEqual(bad.code, 0);
});

test("hosts are private: own hostname, /etc, logs, no systemd, Debian defaults", { timeout: 60_000 }, async () => {
  assert.equal((await ok(pve2, "hostname")).trim(), "pve2");
  await ok(pve1, "test ! -e /run/systemd/system");
  await ok(pve3, "test ! -e /run/systemd/system");
  await ok(pve1, "echo sandbox-only > /etc/ufw/sandbox-marker");
  assert.ok(!fs.existsSync("/etc/ufw/sandbox-marker"), "a host's /etc write reached the machine");
  await hostExec(pve2, "test ! -e /etc/ufw/sandbox-marker").then((r) => assert.equal(r.code, 0, "pve1's /etc is shared with pve2"));
  await ok(pve1, "rm /etc/ufw/sandbox-marker");
  assert.match(await ok(pve1, "ufw status"), /Status: inactive/);
  // Debian's fail2ban runs after boot in a syslog host, with only the Debian sshd jail.
  assert.match(await ok(pve1, "fail2ban-client status"), /Jail list:\s+sshd/);
  // sshd failures reach auth.log in the stock format.
  const fail = await sshExec({ ...pve1, sudoUser: { name: "ops", password: "not-the-password" } }, "true", { asSudoUser: true }).catch(
    (e: Error) => e,
  );
  assert.ok(fail instanceof Error);
  await eventually("auth.log has the failed password", 5_000, async () =>
    /^\S+ pve1 sshd\[\d+\]: Failed password for ops from \S+ port \d+ ssh2$/m.test((await ok(pve1, "cat /var/log/auth.log")))
  );
  // journald-style: no syslog files; the journal works; Debian's fail2ban failed to start.
  await ok(pve3, "test ! -e /var/log/syslog && test ! -e /var/log/auth.log");
  assert.match(await ok(pve3, "journalctl --no-pager -o short | tail -n 50"), /pve3 sshd\[\d+\]: Server listening/);
  assert.notEqual((await hostExec(pve3, "fail2ban-client ping")).code, 0);
  // processes inside a host see only that host
  const ps = await ok(pve1, "ps -eo comm=");
  assert.ok(!ps.includes("journald") && ps.includes("rsyslogd"), ps);
  assert.deepEqual(machineDaemons(), []);
});

test("pvedaemon failure lines have the genuine format (syslog file and journal)", { timeout: 60_000 }, async () => {
  const samples = fs.readFileSync(path.join(FIXTURES, "pvedaemon-failures.log"), "utf8").trim().split("\n");
  const body = (l: string) => l.replace(/^.*? pve\d+ (pvedaemon\[)\d+(\]: .*)$/, "$1PID$2");
  // Write the sample failures (IPv4, IPv4-mapped IPv6, IPv6) with the helper.
  const parsed = samples.slice(0, 3).map((l) => /rhost=(\S+) user=(\S+) msg=(.*)$/.exec(l)!);
  for (const [, rhost, user, msg] of parsed) await writePvedaemonFailure(pve1, rhost, user, msg);
  await eventually("lines in /var/log/syslog", 5_000, async () => (await ok(pve1, "grep -c 'pvedaemon\\[' /var/log/syslog || true")).trim() === "3");
  const lines = (await ok(pve1, "grep 'pvedaemon\\[' /var/log/syslog")).trim().split("\n");
  // Identical to the samples apart from time, host name and PID ...
  assert.deepEqual(lines.map(body), samples.slice(0, 3).map(body));
  // ... in Debian 12's rsyslog format: RFC 3339 timestamp with microseconds, like sample 5.
  const tsRe = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d pve\d pvedaemon\[\d+\]: /;
  assert.match(samples[4], tsRe);
  for (const l of lines) assert.match(l, tsRe);
  assert.ok(lines.every((l) => l.includes(" pve1 pvedaemon[")));
  // In the journal: SYSLOG_IDENTIFIER=pvedaemon, and `journalctl -o short` shows the sample format.
  await writePvedaemonFailure(pve3, "::ffff:198.51.100.79");
  await eventually("journal entry", 5_000, async () => (await ok(pve3, "journalctl --no-pager SYSLOG_IDENTIFIER=pvedaemon -o short")).includes("198.51.100.79"));
  const j = (await ok(pve3, "journalctl --no-pager SYSLOG_IDENTIFIER=pvedaemon -o short | tail -n 1")).trim();
  assert.match(j, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d pve3 pvedaemon\[\d+\]: authentication failure; rhost=::ffff:198\.51\.100\.79 user=root@pam msg=Authentication failure$/);
  // The test filter finds the address in every sample line and in none of the others.
  await ok(pve1, "cat > /tmp/f.conf", PVEDAEMON_FILTER);
  await ok(pve1, `cat > /tmp/good.log`, fs.readFileSync(path.join(FIXTURES, "pvedaemon-failures.log"), "utf8"));
  await ok(pve1, `cat > /tmp/bad.log`, fs.readFileSync(path.join(FIXTURES, "pve-not-failures.log"), "utf8"));
  assert.match(await ok(pve1, "fail2ban-regex /tmp/good.log /tmp/f.conf"), /Lines: 6 lines, 0 ignored, 6 matched, 0 missed/);
  assert.match(await ok(pve1, "fail2ban-regex /tmp/bad.log /tmp/f.conf"), /Lines: 5 lines, 0 ignored, 0 matched, 5 missed/);
});

test("ufw in host 1 blocks its port; host 2 and the machine are unaffected", { timeout: 90_000 }, async () => {
  await startListener(pve1, 8006);
  await startListener(pve2, 8006);
  for (const h of [pve1, pve2]) {
    await assertSandboxAddress(h.address);
    assert.equal(await tcpProbe(h.address, 8006), "open");
  }
  const r = await sshExec(pve1, "ufw allow 22/tcp && ufw --force enable && ufw status");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Status: active/);
  // ufw's default incoming policy is deny (DROP): the connection times out.
  assert.notEqual(await tcpProbe(pve1.address, 8006, 2_000), "open");
  assert.notEqual(await tcpProbe(pve1.address6, 8006, 2_000), "open");
  assert.equal(await tcpProbe(pve2.address, 8006), "open");
  assert.equal(await tcpProbe(pve2.address6, 8006), "open");
  assert.equal((await sshExec(pve1, "hostname")).stdout, "pve1\n");
  assert.match(await ok(pve1, "iptables-save"), /ufw-user-input/);
  assert.doesNotMatch(await ok(pve2, "iptables-save"), /ufw/);
  assert.equal(firewall(), machineFirewallBefore);
  assert.match(fs.readFileSync("/etc/ufw/ufw.conf", "utf8"), /^ENABLED=no$/m);
});

test("fail2ban bans a client after three pvedaemon failures (syslog host, iptables)", { timeout: 120_000 }, async () => {
  assert.ok(await clientConnects(attacker, pve2.address, 8006));
  await ok(pve2, "cat > /etc/fail2ban/filter.d/sandbox-pvedaemon.conf", PVEDAEMON_FILTER);
  await ok(pve2, "cat > /etc/fail2ban/jail.d/zz-sandbox.local", pvedaemonJail("auto"));
  const t = await sshExec(pve2, "fail2ban-client -t && fail2ban-client reload && fail2ban-client status pvedaemon");
  assert.equal(t.code, 0, t.stderr);
  // IPv4, then the IPv4-mapped form of the same client (fail2ban takes the IPv4 out).
  for (const r of [attacker.address, `::ffff:${attacker.address}`, attacker.address]) await writePvedaemonFailure(pve2, r);
  // fail2ban lists a ban a moment before its action has added the REJECT rule: wait for both.
  assert.ok(await waitForBan(pve2, "pvedaemon", attacker.address, 20_000), "attacker banned");
  assert.match(await ok(pve2, "iptables-save"), new RegExp(`-A f2b-pvedaemon -s ${attacker.address.replace(/\./g, "\\.")}/32 -j REJECT`));
  assert.equal(await clientConnects(attacker, pve2.address, 8006), false);
  assert.equal(await clientConnects(other, pve2.address, 8006), true);
  // IPv6 client address: banned in the host's ip6tables.
  for (let i = 0; i < 3; i++) await writePvedaemonFailure(pve2, attacker.address6);
  assert.ok(await waitForBan(pve2, "pvedaemon", attacker.address6, 20_000), "attacker IPv6 banned");
  assert.equal(await clientConnects(attacker, pve2.address6, 8006), false);
  assert.equal(await clientConnects(other, pve2.address6, 8006), true);
  // The ban lives in pve2's own tables only.
  assert.doesNotMatch(await ok(pve1, "iptables-save"), /f2b-/);
  assert.equal(firewall(), machineFirewallBefore);
});

test("fail2ban with backend=systemd bans from journal entries (journald host, started over SSH)", { timeout: 120_000 }, async () => {
  await startListener(pve3, 8006);
  assert.ok(await clientConnects(attacker, pve3.address, 8006));
  await ok(pve3, "cat > /etc/fail2ban/filter.d/sandbox-pvedaemon.conf", PVEDAEMON_FILTER);
  await ok(pve3, "cat > /etc/fail2ban/jail.d/zz-sandbox.local", pvedaemonJail("systemd"));
  // The server is not running (Debian's default sshd jail failed without auth.log);
  // `fail2ban-client start` over SSH must leave it running after the session ends.
  const s = await sshExec(pve3, "fail2ban-client -t && fail2ban-client start");
  assert.equal(s.code, 0, s.stderr);
  await eventually("fail2ban answers", 10_000, async () => (await hostExec(pve3, "fail2ban-client ping")).code === 0);
  assert.match(await ok(pve3, "fail2ban-client status pvedaemon"), /Journal matches:\s+SYSLOG_IDENTIFIER=pvedaemon/);
  for (const r of [attacker.address, `::ffff:${attacker.address}`, attacker.address]) await writePvedaemonFailure(pve3, r);
  assert.ok(await waitForBan(pve3, "pvedaemon", attacker.address, 20_000), "attacker banned");
  assert.equal(await clientConnects(attacker, pve3.address, 8006), false);
  assert.equal(await clientConnects(other, pve3.address, 8006), true);
  assert.equal(firewall(), machineFirewallBefore);
});

test("pvesh stand-in: get/set round trip, formats, errors, cluster.fw", { timeout: 60_000 }, async () => {
  const sh = async (cmd: string) => {
    const r = await sshExec(pve1, cmd);
    return r;
  };
  let r = await sh("pvesh get /cluster/firewall/options --output-format json");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { digest: "da39a3ee5e6b4b0d3255bfef95601890afd80709" }); // unset: no enable key
  assert.equal((await sh("test -e /etc/pve/firewall/cluster.fw")).code, 1);

  r = await sh("pvesh set /cluster/firewall/options --enable 1 --policy_in DROP");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "");
  r = await sh("cat /etc/pve/firewall/cluster.fw");
  assert.equal(r.stdout, "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n");
  r = await sh("pvesh get /cluster/firewall/options --output-format json");
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(j.enable, 1);
  assert.equal(j.policy_in, "DROP");
  assert.match(String(j.digest), /^[0-9a-f]{40}$/);
  r = await sh("pvesh get /cluster/firewall/options");
  assert.equal(
    r.stdout,
    [
      "┌───────────┬───────┐",
      "│ key       │ value │",
      "╞═══════════╪═══════╡",
      "│ enable    │ 1     │",
      "├───────────┼───────┤",
      "│ policy_in │ DROP  │",
      "└───────────┴───────┘",
      "",
    ].join("\n"),
  );
  r = await sh("pvesh get /cluster/firewall/options --output-format yaml");
  assert.equal(r.stdout, `---\ndigest: ${String(j.digest)}\nenable: 1\npolicy_in: DROP\n`);
  r = await sh("pvesh get /cluster/firewall/options --output-format json-pretty");
  assert.match(r.stdout, /^\{\n {3}"digest" : "[0-9a-f]{40}",\n {3}"enable" : 1,\n {3}"policy_in" : "DROP"\n\}\n$/);

  // Other sections survive a set; a stale digest is refused.
  await sh("printf '[RULES]\\n\\nIN SSH(ACCEPT) -i vmbr0\\n\\n' >> /etc/pve/firewall/cluster.fw");
  r = await sh(`pvesh set /cluster/firewall/options --enable 0 --digest ${String(j.digest)}`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await sh("cat /etc/pve/firewall/cluster.fw")).stdout, "[OPTIONS]\n\nenable: 0\npolicy_in: DROP\n\n[RULES]\n\nIN SSH(ACCEPT) -i vmbr0\n\n");
  r = await sh(`pvesh set /cluster/firewall/options --enable 1 --digest ${String(j.digest)}`);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /detected modified configuration - file changed by other user\? Try again\./);
  r = await sh("pvesh set /cluster/firewall/options --delete enable,policy_in && pvesh get /cluster/firewall/options --output-format json");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object), ["digest"]);

  // Errors, as Proxmox prints them.
  r = await sh("pvesh set /cluster/firewall/options --enable yes");
  assert.equal(r.code, 255);
  assert.equal(
    r.stderr,
    "400 Parameter verification failed.\nenable: type check ('integer') failed - got 'yes'\npvesh set <api_path> [OPTIONS] [FORMAT_OPTIONS]\n",
  );
  r = await sh("pvesh set /cluster/firewall/options --policy_in ALLOW");
  assert.equal(r.code, 255);
  assert.match(r.stderr, /^policy_in: value 'ALLOW' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'$/m);
  r = await sh("pvesh set /cluster/firewall/options --bogus 1");
  assert.equal(r.code, 255);
  assert.match(r.stderr, /^Unknown option: bogus\n400 unable to parse option\n/);
  r = await sh("pvesh set /cluster/firewall/options --delete bogus");
  assert.equal(r.code, 255);
  assert.match(r.stderr, /^delete: no such option 'bogus'$/m);
  r = await sh("pvesh get /cluster/firewall/nope");
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "No 'get' handler defined for '/cluster/firewall/nope'\n");
  // pvesh exists only inside hosts.
  assert.ok(!fs.existsSync("/usr/bin/pvesh"));
});

test("down removes everything and the machine is unchanged", { timeout: 120_000 }, async () => {
  const pids = readInventory().hosts.map((h) => h.pid);
  const rep = await down();
  assert.ok(rep.namespaces.includes(`${PREFIX}hub`));
  assert.ok(rep.namespaces.includes(`${PREFIX}c-attacker`));
  const netns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  assert.doesNotMatch(netns, new RegExp(PREFIX));
  for (const p of pids) assert.ok(!isHostInit(p), `host init ${p} still runs`);
  const left = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e) && isHostInit(Number(e)));
  assert.deepEqual(left, []);
  assert.deepEqual(machineDaemons(), []);
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
  assert.ok(!mounts.includes(PREFIX) && !mounts.includes(SANDBOX_DIR), "no mount left");
  assert.doesNotMatch(execFileSync("ip", ["-o", "link"], { encoding: "utf8" }), new RegExp(PREFIX));
  assert.ok(!fs.existsSync(path.join(SANDBOX_DIR, "hosts")));
  assert.ok(!fs.existsSync(INVENTORY_PATH));
  assert.equal(firewall(), machineFirewallBefore);
  assert.deepEqual(checksums(), checksumsBefore);
});
