import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir, loadavg } from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { renderDefaults } from "../providers/fail2ban/logic";
import { Fail2banDefaults, proxmoxFilterDefaults, referenceProxmoxJail, referenceSshdJail } from "../providers/fail2ban/schema";
import { atomicWriteScript } from "../providers/ssh/files";
import { shellQuote } from "../providers/ssh/quote";
import { parseUserRules } from "../providers/ufw/tuples";
import { down, hostExec, Inventory, SandboxHost, up } from "../sandbox";
import { engineEnv, pulumiCommand, repoRoot } from "../scripts/engine";
import {
  changedFiles,
  count,
  effectiveRules,
  errorText,
  fingerprint,
  HostFingerprint,
  hostSshCounter,
  LEFTOVERS_COMMAND,
  openLockGate,
  pendingLockRequests,
  maxConnectionsInWindow,
  mustFail,
  peekEvents,
  SshEvent,
  startLockLog,
  startProcessCapture,
  startSshd,
  stopLockLog,
  stopProcessCapture,
  stopSshd,
  takeEvents,
  unusedSandboxAddress,
  waitFor,
  waitOutUfwLimit,
} from "./support/faults";
import { waitForBan } from "../sandbox/attack";
import { run } from "./support/host-state";
import { isPreflight, ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { CUT_AFTER_COMMANDS, FAULT_PLAN, writeFigures } from "./support/reliability-report";

// Issue 8 on the real engine and a sandbox host: lockout and the `limit` rule,
// faults (unreachable host, sshd stopped, a changed host key, connections cut
// in the middle of `up`, interrupted writes, a fail2ban configuration that
// fails its test, samples that do not match, 50 rules, two stacks at once),
// secrets, file modes, and destroy back to the exact previous state.
//
// One stack (S1) hardens pve1 through the sudo user `ops` (password) with a
// `limit` rule on the SSH port, and lives through every fault; a second
// stack (B, root with a secret private key) joins it for the concurrency test.

const execFileAsync = promisify(execFile);
const started = Date.now();
const CONNECT_TIMEOUT = 4;

let inventory: Inventory;
let host: SandboxHost;
let s1: ProgramStack;
let stackB: ProgramStack | undefined;
let stackU: ProgramStack | undefined;
let privateKey: string;
let original: HostFingerprint;
let hardened: HostFingerprint;
/** New SSH connections pve1 saw since the last call (its connection tracking, not the program's metrics). */
let sshSeen: () => Promise<number>;

/** Every text the suite saw that a person or a log could see: searched for secrets at the end. */
const seen: { place: string; text: string }[] = [];
/** The engine's own -v=9 dumps of the dynamic provider's Configure inputs (see the first test). */
const configureInputLines: string[] = [];
const runs: Record<string, number> = Object.fromEntries(FAULT_PLAN.map((plan) => [plan.id, 0]));
const measured: Record<string, string | number> = {};
const allEvents: SshEvent[] = [];
const lost = { halfWrittenFiles: 0, leftoverTempFiles: 0, missingOrDuplicateRules: 0, secretsFound: 0, hostsNotRestored: 0, stateChangedByFailures: 0 };

// ------------------------------------------------------------------ configs

const rule = (port: number | string, comment?: string, extra: Record<string, unknown> = {}) => ({ action: "allow", protocol: "tcp", port, ...(comment ? { comment } : {}), ...extra });
const BASE_RULES = [{ action: "limit", protocol: "tcp", port: 22, comment: "ssh" }, rule(8006, "proxmox web ui")];
const FIFTY = Array.from({ length: 50 }, (_, i) => rule(10000 + i, `bulk ${i + 1}`, { from: "203.0.113.0/24" }));
const FIVE = Array.from({ length: 5 }, (_, i) => rule(10100 + i, `run3 ${i + 1}`));
const A_SET = Array.from({ length: 5 }, (_, i) => rule(9200 + i, "stack a"));
const B_SET = Array.from({ length: 5 }, (_, i) => rule(9300 + i, "stack b"));

interface Settings {
  extraRules?: unknown[];
  defaults?: Record<string, unknown>;
  jails?: unknown[];
  filters?: unknown[];
}

function settingsOf(s: Settings) {
  const ignoreip = ["127.0.0.1/8", "::1", inventory.network.machineAddress];
  return {
    ufw: { rules: BASE_RULES, extraRules: s.extraRules ?? [] },
    fail2ban: { defaults: { ignoreip, ...s.defaults }, ...(s.jails ? { jails: s.jails } : {}), ...(s.filters ? { filters: s.filters } : {}) },
  };
}

/** Config values of a stack on pve1: the host entry, the settings and the secret private key, in one CLI call. */
async function configureStack(program: ProgramStack, viaSudoUser: boolean, s: Settings) {
  const config = sandboxConfig([{ host, viaSudoUser }], settingsOf(s));
  const values: Record<string, { value: string; secret?: boolean }> = {
    hosts: { value: JSON.stringify([{ ...config.hosts[0], connectTimeoutSeconds: CONNECT_TIMEOUT }]) },
    sshPrivateKey: { value: privateKey, secret: true },
    ufw: { value: JSON.stringify(config.settings.ufw) },
    fail2ban: { value: JSON.stringify(config.settings.fail2ban) },
  };
  if (viaSudoUser) values.hostCredentials = { value: JSON.stringify(config.hostCredentials), secret: true };
  await program.stack.setAllConfig(values);
}

/** S1: pve1 through `ops` and its password (secret hostCredentials), plus a secret private key (tried first). */
const configureS1 = (s: Settings) => configureStack(s1, true, s);

/** Stack B: pve1 as root with the secret private key. */
async function createB(): Promise<ProgramStack> {
  const program = await ProgramStack.create(`rel-b-${process.pid}`, sandboxConfig([{ host }]));
  await program.stack.removeConfig("sshPrivateKeyPath");
  return program;
}

function events(program: ProgramStack): SshEvent[] {
  const taken = takeEvents(program.metricsFile);
  allEvents.push(...taken);
  return taken;
}

/**
 * The stack's state as `pulumi stack export` prints it (secrets stay encrypted;
 * the Automation API's exportStack would decrypt them with --show-secrets), kept
 * for the secret search; returns the resources the program manages.
 */
async function stateOf(program: ProgramStack): Promise<Record<string, unknown>[]> {
  const cli = await pulumiCommand();
  const { stdout } = await execFileAsync(cli.command, ["stack", "export", "--stack", program.stack.name], { cwd: repoRoot, env: { ...process.env, ...engineEnv() }, maxBuffer: 64 << 20 });
  seen.push({ place: `pulumi stack export ${program.stack.name}`, text: stdout });
  const exported = JSON.parse(stdout) as { deployment: { resources?: Record<string, unknown>[] } };
  // What the program manages (the engine rewrites its own bookkeeping, e.g. the default provider's id, on every run).
  return (exported.deployment.resources ?? [])
    .filter((resource) => !String(resource.type).startsWith("pulumi:providers:"))
    .map(({ urn, type, custom, id, inputs, outputs }) => ({ urn, type, custom, id, inputs, outputs }))
    .sort((a, b) => String(a.urn).localeCompare(String(b.urn)));
}

/** Resources in a state that act on a host (the dynamic providers' custom resources), by the host's resource names. */
const resourcesOfHost = (state: Record<string, unknown>[], hostName: string) => state.filter((r) => r.custom === true && String(r.urn).split("::").pop()!.startsWith(`${hostName}-`));

/** S1's state is what it was before a failure: counted in the figures, then asserted. */
async function assertStateUnchanged(stateBefore: Record<string, unknown>[]): Promise<void> {
  const stateAfter = (await stateOf(s1)).filter((resource) => !isPreflight(resource));
  stateBefore = stateBefore.filter((resource) => !isPreflight(resource));
  if (JSON.stringify(stateAfter) !== JSON.stringify(stateBefore)) lost.stateChangedByFailures++;
  assert.deepEqual(stateAfter, stateBefore, "state unchanged");
}

async function failing(place: string, operation: () => Promise<unknown>) {
  const result = await mustFail(place, operation);
  seen.push({ place: `error of ${place}`, text: result.text });
  return result;
}

/** Rules stored in ufw's files inside the host, per family, in file order. */
async function storedRules() {
  const v4 = parseUserRules(await run(host, "cat /etc/ufw/user.rules"), "v4");
  const v6 = parseUserRules(await run(host, "cat /etc/ufw/user6.rules"), "v6");
  return { v4, v6 };
}

/** Ports of rules stored more than once, and whether ufw's files are valid iptables-restore input. */
async function ufwIntegrity() {
  const { v4, v6 } = await storedRules();
  const keys = [...v4, ...v6].map((t) => JSON.stringify({ ...t, comment: undefined }));
  const duplicates = keys.filter((key, i) => keys.indexOf(key) !== i);
  const valid = (await hostExec(host, "iptables-restore --test /etc/ufw/user.rules && ip6tables-restore --test /etc/ufw/user6.rules")).code === 0;
  return { duplicates, valid };
}

const assertSame = (a: HostFingerprint, b: HostFingerprint, what: string) => {
  const files = changedFiles(a, b);
  if (files.length > 0 || JSON.stringify(a) !== JSON.stringify(b)) lost.hostsNotRestored++;
  assert.deepEqual(files, [], `${what}: files changed (stored rules now: ${JSON.stringify(b.ufwRules)}, before: ${JSON.stringify(a.ufwRules)})`);
  assert.deepEqual(b.ufwRules, a.ufwRules, `${what}: ufw's stored rules, in order`);
  assert.deepEqual(b.ruleset, a.ruleset, `${what}: ruleset inside the host`);
  assert.equal(b.ufwStatus, a.ufwStatus, `${what}: ufw status`);
  assert.deepEqual(b.pveshOptions, a.pveshOptions, `${what}: Proxmox firewall options`);
  assert.deepEqual(b.records, a.records, `${what}: the program's records of what the host had before`);
  assert.deepEqual(b.leftovers, [], `${what}: no temp files`);
};

/**
 * Connections ufw's limit refused: the packet counter of the REJECT rule in its IPv4 limit chain
 * (the program connects over IPv4, so only that chain can refuse it). A listing that fails, or a
 * chain without that rule, fails the test.
 */
async function limitRefusals(): Promise<number> {
  const rejects = (await run(host, "iptables -L ufw-user-limit -v -n -x")).split("\n").filter((line) => /\bREJECT\b/.test(line));
  assert.equal(rejects.length, 1, "ufw's IPv4 limit chain holds its REJECT rule");
  return Number(rejects[0].trim().split(/\s+/)[0]);
}

before(async () => {
  await down();
  inventory = await up({ count: 1 });
  host = inventory.hosts[0];
  privateKey = readFileSync(host.privateKeyPath, "utf8");
  sshSeen = await hostSshCounter(host);
  original = await fingerprint(host);
  s1 = await ProgramStack.create(`rel-s1-${process.pid}`, sandboxConfig([{ host }]));
  await s1.stack.removeConfig("sshPrivateKeyPath");
  await configureS1({});
}, { timeout: 300_000 });

after(async () => {
  for (const program of [stackB, stackU, s1]) await program?.remove();
  await down();
}, { timeout: 600_000 });

// ------------------------------------------------------------------ lockout, limit, security during create

test("a limit rule on the SSH port works: create, a second up and a refresh each use one connection", { timeout: 900_000 }, async () => {
  await startProcessCapture(host, 240);
  let createOutput = "";
  const create = await s1.stack.up({ debug: true, onOutput: (text) => (createOutput += text), onError: (text) => (createOutput += text) });
  assert.equal(create.summary.result, "succeeded");
  createOutput += `\n${create.stdout}\n${create.stderr}`;
  assert.match(createOutput, /\[pve1\] fail2ban reloaded/, "the providers' log lines are in the output");
  seen.push({ place: "engine output of up --debug (with the providers' log lines)", text: createOutput });
  assert.equal(await sshSeen(), 1, "the host saw one SSH connection for the whole create");
  assert.equal(count(events(s1), "connect"), 1, "the program's metrics: one connection");
  const lines = await stopProcessCapture(host);
  seen.push({ place: "command lines inside the host during up", text: lines.join("\n") });
  measured["process command lines sampled inside the host during the create"] = lines.length;
  assert.ok(lines.some((line) => line.includes("sudo -k -S")), "the capture saw the program's commands");
  const sudoLines = (await run(host, "grep -h 'COMMAND=' /var/log/auth.log || true")).trim();
  assert.ok(sudoLines.length > 0, "sudo logged the commands it ran");
  seen.push({ place: "sudo's log of every command (auth.log)", text: sudoLines });
  measured["commands sudo logged during the create"] = sudoLines.split("\n").length;

  const status = await run(host, "ufw status");
  assert.match(status, /^22\/tcp +LIMIT +Anywhere/m);
  assert.match(status, /^22\/tcp \(v6\) +LIMIT +Anywhere \(v6\)/m);

  // Files the program wrote: root-owned, 0644 (none holds a secret).
  const modes = await run(host, "stat -c '%a %U:%G %n' /etc/fail2ban/filter.d/proxmox.conf /etc/fail2ban/jail.d/proxmox-hardening-*.local");
  for (const line of modes.trim().split("\n")) assert.match(line, /^644 root:root \//, line);
  measured["files written by the program, all 644 root:root"] = modes.trim().split("\n").length;

  const again = await s1.stack.up();
  assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
  assert.equal(await sshSeen(), 0, "a no-op up: the host saw no SSH connection");
  assert.equal(count(events(s1), "connect"), 0, "the program's metrics: no connection");

  // The refresh runs with the engine's most verbose logging, the providers' included. At -v=9
  // the engine prints every property it marshals over gRPC, and it hands the stack's whole
  // config to the Node.js dynamic-provider plugin in Configure (a plugin that does not accept
  // secrets, so they go unwrapped): those lines are Pulumi's own and are counted apart;
  // every other line of the output must be free of secrets.
  let output = "";
  const refreshed = await s1.stack.refresh({ debug: true, logVerbosity: 9, logFlow: true, logToStdErr: true, onOutput: (text) => (output += text), onError: (text) => (output += text) });
  assert.equal(refreshed.summary.result, "succeeded");
  assert.equal(await sshSeen(), 1, "refresh: the host saw one SSH connection");
  assert.equal(count(events(s1), "connect"), 1, "the program's metrics: one connection");
  const configureDump = /(Un)?[Mm]arshaling property for RPC\[Provider\[[^\]]*\]\.Configure\(\)\.inputs\]/;
  const engineLines = `${output}\n${refreshed.stdout}\n${refreshed.stderr}`.split("\n");
  seen.push({ place: "engine output of refresh --debug -v=9 --logflow --logtostderr (without the engine's Configure dumps)", text: engineLines.filter((line) => !configureDump.test(line)).join("\n") });
  configureInputLines.push(...engineLines.filter((line) => configureDump.test(line)));
  measured["engine output of the verbose refresh searched for secrets (lines)"] = engineLines.length;
  assert.equal(await limitRefusals(), 0, "ufw's limit refused no connection of the program");
  hardened = await fingerprint(host);
  runs.limit = 1;
});

// ------------------------------------------------------------------ host key, unreachable, sshd stopped

test("a changed host key is refused before any command runs; state and host unchanged", { timeout: 900_000 }, async () => {
  const stateBefore = await stateOf(s1);
  await sshSeen();
  const accepted = () => run(host, "grep -c 'Accepted ' /var/log/auth.log || true").then((n) => Number(n.trim()));
  const acceptedBefore = await accepted();
  await run(host, "mkdir -p /root/prl-key && cp -a /etc/ssh/ssh_host_ed25519_key* /root/prl-key/ && rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key");
  await stopSshd(host);
  await startSshd(host);
  try {
    const { text } = await failing("refresh with a changed host key", () => s1.stack.refresh());
    assert.match(text, /\[host pve1, resource ssh ops@[^,]+, field hostKey\] the host presented key SHA256:\S+, which is not the pinned key; no command was run/);
    const seenEvents = events(s1);
    assert.equal(count(seenEvents, "command"), 0, "no command ran");
    assert.equal(count(seenEvents, "connect"), 0, "no session was opened");
    assert.equal(await accepted(), acceptedBefore, "sshd accepted no login");
    assert.equal(await sshSeen(), 1, "the host saw one connection: the handshake, not retried");
    runs["host-key"] = 1;
  } finally {
    await run(host, "cp -a /root/prl-key/ssh_host_ed25519_key* /etc/ssh/ && rm -rf /root/prl-key");
    await stopSshd(host);
    await startSshd(host);
  }
  await assertStateUnchanged(stateBefore);
  assertSame(hardened, await fingerprint(host), "after the host key test");
});

test("an unreachable host fails within connectTimeoutSeconds, naming host and address, and leaves no resource in state", { timeout: 900_000 }, async () => {
  const address = await unusedSandboxAddress(host);
  const config = sandboxConfig([{ host }]);
  Object.assign(config.hosts[0], { name: "ghost", address, connectTimeoutSeconds: CONNECT_TIMEOUT });
  stackU = await ProgramStack.create(`rel-unreach-${process.pid}`, config);
  const { text, ms } = await failing("up of an unreachable host", () => stackU!.stack.up());
  assert.match(text, new RegExp(`\\[host ghost, resource ssh root@${address.replace(/\./g, "\\.")}:22\\] could not open an SSH connection after \\d attempts? in \\d+\\.\\d s \\(connectTimeoutSeconds=${CONNECT_TIMEOUT}\\)`));
  const failed = events(stackU).filter((e) => e.event === "connect-failed");
  assert.ok(failed.length >= 1, "the transport gave up");
  for (const e of failed) assert.ok(Number(e.ms) <= CONNECT_TIMEOUT * 1000 + 500, `gave up after ${e.ms} ms`);
  measured["unreachable host: connection given up after (ms)"] = Math.max(...failed.map((e) => Number(e.ms)));
  measured["unreachable host: whole failed up (s)"] = Math.round(ms / 1000);
  // The same filter finds pve1's resources in S1's state, so an empty list is not an empty filter.
  assert.ok(resourcesOfHost(await stateOf(s1), "pve1").length > 0, "the filter finds a host's resources");
  assert.deepEqual(resourcesOfHost(await stateOf(stackU), "ghost"), [], "no resource of the unreachable host in state");
  await stackU.forget();
  stackU = undefined;
  runs.unreachable = 1;
});

test("sshd stopped: refresh fails within connectTimeoutSeconds naming the host; state and host unchanged", { timeout: 900_000 }, async () => {
  const stateBefore = await stateOf(s1);
  await sshSeen();
  await stopSshd(host);
  let refusedAt = Date.now();
  try {
    const { text } = await failing("refresh with sshd stopped", () => s1.stack.refresh());
    refusedAt = Date.now();
    assert.match(text, new RegExp(`\\[host pve1, resource ssh ops@${host.address.replace(/\./g, "\\.")}:22\\] could not open an SSH connection after \\d attempts? in \\d+\\.\\d s \\(connectTimeoutSeconds=${CONNECT_TIMEOUT}\\): connect ECONNREFUSED`));
    assert.match(text, /next: check that .* is reachable from this machine and sshd runs there/);
    const failed = events(s1).filter((e) => e.event === "connect-failed");
    assert.equal(failed.length, 1, "one bounded attempt series for the whole refresh, not one per resource");
    assert.ok(Number(failed[0].ms) <= CONNECT_TIMEOUT * 1000 + 500, `gave up after ${failed[0].ms} ms`);
    measured["sshd stopped: connection given up after (ms)"] = Number(failed[0].ms);
    // ufw's limit counts refused attempts too: the host saw as many as the message reports.
    const attempts = Number(/after (\d+) attempts?/.exec(text)?.[1]);
    assert.equal(await sshSeen(), attempts, "refused connection attempts the host saw");
    measured["sshd stopped: refused connection attempts the host saw"] = attempts;
    runs["sshd-stopped"] = 1;
  } finally {
    await startSshd(host);
    // S1's `limit` rule on port 22 counted the refused attempts.
    await waitOutUfwLimit(refusedAt);
  }
  await assertStateUnchanged(stateBefore);
  assertSame(hardened, await fingerprint(host), "after sshd was stopped");
});

// ------------------------------------------------------------------ fail2ban: samples and a failing test

test("filter samples that do not match on the host: up fails naming host, resource and field; host untouched", { timeout: 900_000 }, async () => {
  const stateBefore = await stateOf(s1);
  const filter = {
    name: "prlsample",
    failregex: [String.raw`^\S+ \S+ myapp\[\d+\]: login failed from <HOST>$`],
    samples: { match: ["2026-11-25T13:40:01.000000+00:00 pve1 myapp[12]: login FAILED for 192.0.2.10"] },
  };
  await configureS1({ filters: [proxmoxFilterDefaults, filter], jails: [referenceSshdJail, referenceProxmoxJail, { name: "prlsample", filter: { name: "prlsample" }, logpath: ["/var/log/syslog"] }] });
  const { text } = await failing("up with samples that do not match", () => s1.stack.up());
  assert.match(text, /\[host pve1, resource fail2ban:Filter pve1-fail2ban-filter-prlsample, field filter\.samples\] the filter's samples do not behave on the host, so the filter was not installed/);
  assert.match(text, /should match but does not: 2026-11-25T13:40:01\.000000\+00:00 pve1 myapp\[12\]: login FAILED for 192\.0\.2\.10/);
  events(s1);
  await configureS1({});
  await assertStateUnchanged(stateBefore);
  assertSame(hardened, await fingerprint(host), "after the sample check failed");
  runs.samples = 1;
});

test("a fail2ban configuration that fails its test is rolled back; fail2ban keeps running and banning", { timeout: 900_000 }, async () => {
  const stateBefore = await stateOf(s1);
  await run(host, "mv /etc/fail2ban/filter.d/3proxy.conf /root/prl-3proxy.conf");
  try {
    await configureS1({ jails: [referenceSshdJail, referenceProxmoxJail, { name: "prlproxy", filter: { name: "3proxy" }, port: 3128, logpath: ["/var/log/syslog"] }] });
    const { text } = await failing("up with a jail whose filter is missing on the host", () => s1.stack.up());
    assert.match(text, /\[host pve1, resource fail2ban:Jail pve1-fail2ban-jail-prlproxy, field jail\] fail2ban-client -t rejected the new \/etc\/fail2ban\/jail\.d\/proxmox-hardening-jail-prlproxy\.local; the previous \S+ was put back, fail2ban was not reloaded and keeps running on its previous configuration/);
    events(s1);
    assert.equal((await hostExec(host, "test -e /etc/fail2ban/jail.d/proxmox-hardening-jail-prlproxy.local")).code, 1, "the jail file was rolled back");
    assert.match(await run(host, "fail2ban-client ping"), /pong/, "fail2ban still runs");
    // Still banning: three failed logins from one address in auth.log, as sshd writes them.
    const octets = host.address.split(".");
    const attacker = `${octets.slice(0, 3).join(".")}.${Number(octets[3]) + 49}`;
    for (let i = 0; i < 3; i++) await run(host, `logger -p auth.info -t 'sshd[4242]' 'Failed password for root from ${attacker} port ${40000 + i} ssh2'`);
    // Listed by the jail and in the ruleset: fail2ban lists a ban a moment before its action runs.
    assert.ok(await waitForBan(host, "sshd", attacker, 30_000), `${attacker} banned by the sshd jail, the ban in the ruleset`);
    await run(host, `fail2ban-client set sshd unbanip ${attacker}`);
    runs["fail2ban-test"] = 1;
  } finally {
    await run(host, "mv /root/prl-3proxy.conf /etc/fail2ban/filter.d/3proxy.conf");
    await configureS1({});
  }
  await assertStateUnchanged(stateBefore);
  // fail2ban creates a jail's chain (f2b-sshd) at its first ban and keeps it: the ban above did that.
  const now = await fingerprint(host);
  const withoutBanChain = (f: HostFingerprint) => ({ ...f, ruleset: { v4: f.ruleset.v4.split("\n").filter((line) => !line.includes("f2b-sshd")).join("\n"), v6: f.ruleset.v6.split("\n").filter((line) => !line.includes("f2b-sshd")).join("\n") } });
  assertSame(withoutBanChain(hardened), withoutBanChain(now), "after the rollback");
  hardened = now;
});

// ------------------------------------------------------------------ interrupted writes on the host

test("an atomic write interrupted on the host keeps the old file and leaves no temp file", { timeout: 900_000 }, async () => {
  const path = "/etc/fail2ban/jail.d/prl-write-test.local";
  const old = "# the old content\n[DEFAULT]\nbantime = 600\n";
  const fresh = `${"# the new content, long enough to be cut\n".repeat(40)}[DEFAULT]\nbantime = 7200\n`;
  const script = atomicWriteScript(path, "0644", "root:root", fresh);
  const check = async (what: string) => {
    assert.equal(await run(host, `cat ${path}`), old, `${what}: old content`);
    assert.equal((await run(host, `stat -c '%a %U:%G' ${path}`)).trim(), "640 root:root", `${what}: old mode and owner`);
  };
  await run(host, `printf '%s' ${shellQuote(old)} > ${path} && chmod 640 ${path}`);
  await run(host, `printf '%s' ${shellQuote(script)} > /run/prl-write.sh`);
  try {
    // 1. The input cut short (a connection lost while the content was on its way).
    const short = await hostExec(host, "sh /run/prl-write.sh", { input: fresh.slice(0, fresh.length / 2) });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /incomplete input/);
    await check("input cut short");
    // 2. No input at all.
    assert.notEqual((await hostExec(host, "sh /run/prl-write.sh", { input: "" })).code, 0);
    await check("no input");
    assert.equal(await run(host, LEFTOVERS_COMMAND), "", "no temp file after 1 and 2");
    // 3. Killed (SIGTERM) while writing, half the content in, once its temp file exists (waited
    // for, bounded, whatever the load): the shell runs its trap once `cat` returns, here when
    // the writer closes the fifo right after the signal (a lost connection ends it at once).
    const half = shellQuote(fresh.slice(0, 200));
    const tempFile = `find ${path.slice(0, path.lastIndexOf("/"))} -maxdepth 1 -name '.proxmox-hardening.*'`;
    const writing = (signal: string) =>
      [
        "rm -f /run/prl-in && mkfifo /run/prl-in",
        "sh /run/prl-write.sh < /run/prl-in >/dev/null 2>&1 & writer=$!",
        `exec 3>/run/prl-in; printf '%s' ${half} >&3`,
        `i=0; until [ -n "$(${tempFile})" ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; [ -n "$(${tempFile})" ]`,
        `kill -${signal} $writer; exec 3>&-; wait $writer; rm -f /run/prl-in; true`,
      ].join("\n");
    await run(host, writing("TERM"));
    await check("killed with SIGTERM");
    assert.equal(await run(host, LEFTOVERS_COMMAND), "", "no temp file after SIGTERM");
    // 4. Killed outright (SIGKILL): the temp file stays until the next write removes it.
    await run(host, writing("KILL"));
    await check("killed with SIGKILL");
    assert.equal((await run(host, LEFTOVERS_COMMAND)).split("\n").filter(Boolean).length, 1, "SIGKILL leaves its temp file");
    const full = await hostExec(host, "sh /run/prl-write.sh", { input: fresh });
    assert.equal(full.code, 0, full.stderr);
    assert.equal(await run(host, `cat ${path}`), fresh, "a complete input is written");
    assert.equal(await run(host, LEFTOVERS_COMMAND), "", "the next write removed the stale temp file");
    runs["write-script"] = 4;
  } finally {
    await run(host, `rm -f ${path} /run/prl-write.sh; find /etc/fail2ban -name '.proxmox-hardening.*' -delete`);
  }
  assertSame(hardened, await fingerprint(host), "after the interrupted writes");
});

// ------------------------------------------------------------------ connections cut in the middle of up

/**
 * Changes S1's config, starts `up`, kills sshd inside the host after `cutAfter`
 * remote commands of that up, checks what the host holds, then runs `up`
 * again and checks it converged.
 */
async function cutRun(index: number, next: Settings, cutAfter: number, expectRules: (ports: string[]) => void) {
  const old = await fingerprint(host);
  await configureS1(next);
  events(s1);
  await sshSeen();
  let settled = false;
  const upRun = s1.stack.up().then(
    () => "succeeded",
    (error) => errorText(error),
  );
  void upRun.then(() => (settled = true));
  await waitFor(`cut point ${cutAfter}`, 300_000, () => (settled || count(peekEvents(s1.metricsFile), "command") >= cutAfter ? true : undefined), 50);
  assert.ok(!settled, `run ${index}: the up finished before ${cutAfter} commands`);
  await stopSshd(host);
  const outcome = await upRun;
  assert.notEqual(outcome, "succeeded", `run ${index}: the cut up failed`);
  seen.push({ place: `error of the up cut after ${cutAfter} commands`, text: outcome });
  const commandsBeforeCut = count(events(s1), "command");
  // Scripts already running on the host go on without their connection: let them end.
  const orphans = (await hostExec(host, "pgrep -fc 'proxmox-hardening[.]lock'")).stdout.trim();
  measured[`cut run ${index}: remote scripts still running on the host after the cut`] = Number(orphans || 0);
  await waitFor("orphaned remote scripts to end", 120_000, async () => ((await hostExec(host, "pgrep -f 'proxmox-hardening[.]lock'")).code === 0 ? undefined : true), 500);
  const mid = await fingerprint(host);
  if (mid.leftovers.length > 0) lost.leftoverTempFiles += mid.leftovers.length;
  assert.deepEqual(mid.leftovers, [], `run ${index}: no temp file left`);
  const integrity = await ufwIntegrity();
  if (integrity.duplicates.length > 0 || !integrity.valid) lost.missingOrDuplicateRules++;
  assert.ok(integrity.valid, `run ${index}: ufw's rule files are complete`);
  assert.deepEqual(integrity.duplicates, [], `run ${index}: no rule stored twice`);
  await startSshd(host);
  const converged = await s1.stack.up();
  assert.equal(converged.summary.result, "succeeded", `run ${index}: the next up converges`);
  events(s1);
  const now = await fingerprint(host);
  // Every file the program manages is, at the cut, either what it was or what it became.
  const managed = Object.keys({ ...old.files, ...mid.files, ...now.files }).filter((path) => path.startsWith("/etc/fail2ban/") || path.startsWith("/etc/pve/"));
  for (const path of managed) {
    const ok = mid.files[path] === old.files[path] || mid.files[path] === now.files[path];
    if (!ok) lost.halfWrittenFiles++;
    assert.ok(ok, `run ${index}: ${path} at the cut is neither its old nor its new content`);
  }
  const { v4 } = await storedRules();
  expectRules(v4.map((t) => t.dport));
  const after = await ufwIntegrity();
  assert.deepEqual(after.duplicates, [], `run ${index}: no rule stored twice after converging`);
  assert.equal((await hostExec(host, "fail2ban-client -t")).code, 0, `run ${index}: fail2ban's configuration passes its test`);
  measured[`cut run ${index}: remote commands before the cut`] = commandsBeforeCut;
  measured[`cut run ${index}: SSH connections the host saw (the cut up, its retries, the next up)`] = await sshSeen();
  runs.cut++;
}

test("connections cut in the middle of up leave no half-written file, and the next up converges", { timeout: 1_800_000 }, async () => {
  const portsOf = (rules: { port: number | string }[]) => rules.map((r) => String(r.port));
  const expectPorts = (expected: string[], what: string) => (ports: string[]) => {
    if (JSON.stringify(ports) !== JSON.stringify(expected)) lost.missingOrDuplicateRules++;
    assert.deepEqual(ports, expected, what);
  };
  const base = portsOf(BASE_RULES);
  // 1: adding 50 rules and rewriting the fail2ban defaults.
  await cutRun(1, { extraRules: FIFTY, defaults: { bantime: 7200 } }, CUT_AFTER_COMMANDS[0], expectPorts([...base, ...portsOf(FIFTY)], "all 50 rules present exactly once, in order"));
  runs["fifty-rules"] = 1;
  // 2: removing the last 5 of them, and rewriting the defaults and both jails.
  const jails = [
    { ...referenceSshdJail, maxretry: 5 },
    { ...referenceProxmoxJail, maxretry: 4 },
  ];
  const kept = FIFTY.slice(0, 45);
  await cutRun(2, { extraRules: kept, defaults: { bantime: 5400, maxretry: 4 }, jails }, CUT_AFTER_COMMANDS[1], expectPorts([...base, ...portsOf(kept)], "45 rules left"));
  // 3: five new rules, the defaults and jails back.
  await cutRun(3, { extraRules: [...kept, ...FIVE], defaults: { findtime: 600 } }, CUT_AFTER_COMMANDS[2], expectPorts([...base, ...portsOf(kept), ...portsOf(FIVE)], "five more"));
});

// ------------------------------------------------------------------ two stacks at once

test("a second stack on the host, its up started with the first's: refused naming the first, nothing changed; the first's up complete", { timeout: 1_200_000 }, async () => {
  // B would manage the same host with the reference rules and fail2ban files, its own rules and [DEFAULT] values.
  stackB = await createB();
  const defaultsA = { bantime: 7200 };
  const defaultsB = { bantime: 5400 };
  await configureS1({ extraRules: [...FIFTY.slice(0, 45), ...FIVE, ...A_SET], defaults: defaultsA });
  await configureStack(stackB, false, { extraRules: B_SET, defaults: defaultsB });
  // Every request for the host lock waits at a gate inside the host (at most 200 s, below the
  // program's command timeout) until both ups are seen waiting at once: two scripts of S1 (its new
  // rules and its fail2ban defaults go in parallel) and B's first one. Then they contend together.
  await startLockLog(host, 200);
  let settled = false;
  const ups = Promise.all([s1.stack.up().then((result) => result.summary.result as string, errorText), stackB.stack.up().then(() => "succeeded", errorText)]).finally(() => (settled = true));
  const bothWaiting = async () => (settled || ((await pendingLockRequests(host, "ops")).length >= 2 && (await pendingLockRequests(host, "root")).length >= 1) ? !settled : undefined);
  const waited = await waitFor("two scripts of S1 (ops) and one of B (root) waiting at the host lock", 480_000, bothWaiting, 1000).catch(errorText);
  await openLockGate(host);
  const [a, b] = await ups;
  const lockEvents = await stopLockLog(host);
  assert.equal(a, "succeeded", a);
  assert.equal(waited, true, `both ups waited at the host lock at once: ${waited}; lock log: ${JSON.stringify(lockEvents)}`);
  // Serialized: each script got the lock only once the last holder's shell (which holds it until it exits) was gone.
  const acquired = lockEvents.filter((e) => e.event === "acquired");
  assert.deepEqual(acquired.filter((e) => e.liveHolder !== undefined), [], "no script got the host lock while another held it");
  const users = acquired.map((e) => e.user);
  assert.ok(users.includes("ops") && users.includes("root"), `both stacks got the lock in turn: ${users.join(" ")}`);
  measured["two stacks: scripts that took the host lock (S1, B)"] = `${users.filter((u) => u === "ops").length}, ${users.filter((u) => u === "root").length}`;
  assert.notEqual(b, "succeeded", "the second stack's up is refused");
  seen.push({ place: "error of the second stack's up", text: b });
  // B's first resources (its packages; everything else waits for them) name what S1 manages there (its records on the host).
  assert.match(b, new RegExp(`package ufw is managed by stack proxmox-hardening/${s1.stack.name} \\(host entry pve1\\)[^\\n]*: nothing was changed`));
  events(s1);
  events(stackB);
  const { v4 } = await storedRules();
  const ports = v4.map((t) => t.dport);
  for (const r of [...A_SET, ...BASE_RULES]) {
    const n = ports.filter((p) => p === String(r.port)).length;
    if (n !== 1) lost.missingOrDuplicateRules++;
    assert.equal(n, 1, `rule ${r.port} stored exactly once`);
  }
  for (const r of B_SET) assert.ok(!ports.includes(String(r.port)), `stack B's rule ${r.port} not added`);
  const integrity = await ufwIntegrity();
  assert.ok(integrity.valid, "ufw's rule files are complete");
  assert.deepEqual(integrity.duplicates, [], "no rule stored twice");
  const render = (defaults: Record<string, unknown>) =>
    renderDefaults(Fail2banDefaults.parse({ ignoreip: ["127.0.0.1/8", "::1", inventory.network.machineAddress], ...defaults }), "auto");
  const written = await run(host, "cat /etc/fail2ban/jail.d/proxmox-hardening-defaults.local");
  if (written !== render(defaultsA)) lost.halfWrittenFiles++;
  assert.equal(written, render(defaultsA), "the defaults file is the first stack's complete content");
  assert.equal((await hostExec(host, "fail2ban-client -t")).code, 0, "fail2ban's configuration passes its test");
  assert.deepEqual((await fingerprint(host)).leftovers, [], "no temp file");
  assert.equal((await run(host, "ls /var/lib/proxmox-hardening/before/proxmox-hardening")).trim(), s1.stack.name, "only the first stack has records on the host");
  const destroyed = await stackB.stack.destroy();
  assert.equal(destroyed.summary.result, "succeeded");
  events(stackB);
  await stateOf(stackB);
  await stackB.forget();
  stackB = undefined;
  runs["two-stacks"] = 1;
});

// ------------------------------------------------------------------ secrets, and destroy

test("no secret in plain text: state, engine and provider logs, errors, command lines, sudo's log, config files", { timeout: 900_000 }, async () => {
  await stateOf(s1);
  for (const file of [join(repoRoot, `Pulumi.${s1.stack.name}.yaml`), s1.metricsFile]) {
    if (existsSync(file)) seen.push({ place: file, text: readFileSync(file, "utf8") });
  }
  // Pulumi's automatic logs of these stacks (~/.pulumi/logs, encrypted with the stack's secrets provider).
  const logsDir = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "logs");
  const names = [s1.stack.name, `rel-b-${process.pid}`, `rel-unreach-${process.pid}`];
  const logFiles = existsSync(logsDir) ? readdirSync(logsDir).filter((file) => names.some((name) => file.includes(`+${name}-`))) : [];
  for (const file of logFiles) seen.push({ place: join(logsDir, file), text: readFileSync(join(logsDir, file), "latin1") });
  measured["Pulumi automatic log files of the suite's stacks searched"] = logFiles.length;
  const password = host.sudoUser.password;
  const keyLines = privateKey.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"));
  const secrets = [password, privateKey.trim(), ...keyLines];
  const found: string[] = [];
  for (const { place, text } of seen) {
    for (const secret of secrets) {
      // As is, and as it would look inside a JSON string (a log line, a state file).
      if (text.includes(secret) || text.includes(JSON.stringify(secret).slice(1, -1))) found.push(`${place}: ${secret === password ? "the password" : "the private key"}`);
    }
  }
  lost.secretsFound = found.length;
  assert.deepEqual(found, [], "secrets in plain text");
  // The state holds the credentials only encrypted: as the default provider's inputs, like every provider's config.
  const state = seen.filter((entry) => entry.place === `pulumi stack export ${s1.stack.name}`).pop()?.text ?? "";
  assert.match(state, /"proxmox-hardening:hostCredentials": \{\s*"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/);
  measured["engine -v=9 lines dumping the dynamic provider's Configure inputs (Pulumi's own, secrets in them)"] = configureInputLines.filter((line) => secrets.some((secret) => line.includes(secret) || line.includes(JSON.stringify(secret).slice(1, -1)))).length;
  assert.ok(seen.length >= 10, "the search covered the places it should");
  measured["texts searched for secrets"] = seen.length;
});

test("destroy returns the host to its exact state before the suite", { timeout: 900_000 }, async () => {
  // docs/RELIABILITY.md shows what this run counted, losses included: the figures are written
  // whether or not the checks below pass.
  try {
    // Since ufw last loaded its rules, its limit refused none of the program's connections.
    assert.equal(await limitRefusals(), 0, "ufw's limit refused no connection");
    await sshSeen();
    const destroyed = await s1.stack.destroy();
    assert.equal(destroyed.summary.result, "succeeded");
    assert.equal(await sshSeen(), 1, "destroy: the host saw one SSH connection (limit rule still on until the end)");
    const destroyEvents = events(s1);
    assert.equal(count(destroyEvents, "connect"), 1, "the program's metrics: one connection");
    // Files, modes, owners, ufw's view and the Proxmox options exactly as before. The ruleset inside
    // the host filters alike: `ufw disable` empties its chains but leaves them (and the jumps to
    // them) until the next boot, as on any host, and fail2ban's chain stays empty without bans.
    const after = await fingerprint(host);
    for (const family of ["v4", "v6"] as const) {
      const same = JSON.stringify(effectiveRules(after.ruleset[family])) === JSON.stringify(effectiveRules(original.ruleset[family]));
      if (!same) lost.hostsNotRestored++;
      assert.deepEqual(effectiveRules(after.ruleset[family]), effectiveRules(original.ruleset[family]), `after destroy: the ${family} ruleset filters as before`);
    }
    assertSame(original, { ...after, ruleset: original.ruleset }, "after destroy");
    const connects = allEvents.filter((e) => e.event === "connect" && e.host === "pve1");
    measured["most SSH connections within 30 s, by the program's own metrics"] = maxConnectionsInWindow(connects);
    assert.ok(maxConnectionsInWindow(connects) < 6, "below ufw's limit of 6 in 30 s");
  } finally {
    measured["machine load average at the end (1, 5, 15 min)"] = loadavg().map((n) => n.toFixed(1)).join(", ");
    writeFigures({ faults: { runs, lost, measured, seconds: Math.round((Date.now() - started) / 1000) } });
  }
  for (const plan of FAULT_PLAN) assert.equal(runs[plan.id], plan.runs, `${plan.id}: runs as planned`);
  assert.deepEqual(Object.values(lost), [0, 0, 0, 0, 0, 0], "nothing lost");
});
