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
import { addClient, down, hostExec, Inventory, Release, SandboxClient, SandboxHost, up } from "../sandbox";
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
import { bruteForceSsh, waitForBan } from "../sandbox/attack";
import { authLog, run, SSHD_IDENTIFIERS } from "./support/host-state";
import { isPreflight, ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { CUT_AFTER_COMMANDS, FAULT_PLAN, RELEASE_NAMES, writeFigures } from "./support/reliability-report";

// Issue 8 on the real engine and systemd-booted nodes (issue 13): lockout and the `limit` rule,
// faults (unreachable host, sshd stopped, a changed host key, connections cut in the middle of
// `up`, interrupted writes, a fail2ban configuration that fails its test, samples that do not
// match, 50 rules, two stacks at once), secrets, file modes, and destroy back to the exact
// previous state.
//
// pve1 is a Debian 13 node logging to the journal only, as a default Proxmox VE 9 install: the
// whole suite runs there. pve2 is a Debian 12 node, journal only (a default Proxmox VE 8, whose
// fail2ban failed at boot): the cases whose behaviour depends on the release run there too
// (the create and destroy of the reference procedure, fail2ban 1.0.2's test, rollback and
// sample check, OpenSSH 9.2's sshd stopped and its sessions cut), and the others do not run twice.
//
// One stack per node (S1 on pve1, S2 on pve2) hardens it through the sudo user `ops` (password)
// with a `limit` rule on the SSH port and lives through every fault; a second stack (B, root
// with a secret private key) joins S1 for the concurrency test.

const execFileAsync = promisify(execFile);
const started = Date.now();
const CONNECT_TIMEOUT = 4;
/** The releases the release-dependent cases run on; the first one runs everything. */
const RELEASES: Release[] = ["trixie", "bookworm"];

/** A node, its stack, and what the suite knows of it. */
interface Target {
  release: Release;
  host: SandboxHost;
  stack: ProgramStack;
  original: HostFingerprint;
  hardened: HostFingerprint;
  /** New SSH connections the node saw since the last call (its connection tracking, not the program's metrics). */
  sshSeen: () => Promise<number>;
  /** Whether fail2ban answered before the suite. */
  fail2banBefore: boolean;
  /** The node as the figures name it: release and the versions that matter here. */
  describe: string;
}

let inventory: Inventory;
const targets = {} as Record<Release, Target>;
/** The Debian 13 node's, for the cases that run on it only. */
let host: SandboxHost;
let s1: ProgramStack;
let stackB: ProgramStack | undefined;
let stackU: ProgramStack | undefined;
let attacker: SandboxClient | undefined;
let privateKey: string;

/** Every text the suite saw that a person or a log could see: searched for secrets at the end. */
const seen: { place: string; text: string }[] = [];
/** The engine's own -v=9 dumps of the dynamic provider's Configure inputs (see the first test). */
const configureInputLines: string[] = [];
const runs: Record<string, Partial<Record<Release, number>>> = Object.fromEntries(FAULT_PLAN.map((plan) => [plan.id, {}]));
const ran = (id: string, release: Release, n = 1) => (runs[id][release] = (runs[id][release] ?? 0) + n);
const measured: Record<string, string | number> = {};
const allEvents: SshEvent[] = [];
const lost = { halfWrittenFiles: 0, leftoverTempFiles: 0, missingOrDuplicateRules: 0, secretsFound: 0, hostsNotRestored: 0, stateChangedByFailures: 0 };
/** A measurement's name, with the release it was taken on. */
const on = (t: Target, what: string) => `${RELEASE_NAMES[t.release]}: ${what}`;
/** A test's name, with the release it runs on. */
const named = (release: Release, what: string) => `${RELEASE_NAMES[release]} (${release}): ${what}`;
const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

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

/** Config values of a stack on one node: the host entry, the settings and the secret private key, in one CLI call. */
async function configureStack(program: ProgramStack, node: SandboxHost, viaSudoUser: boolean, s: Settings) {
  const config = sandboxConfig([{ host: node, viaSudoUser }], settingsOf(s));
  const values: Record<string, { value: string; secret?: boolean }> = {
    hosts: { value: JSON.stringify([{ ...config.hosts[0], connectTimeoutSeconds: CONNECT_TIMEOUT }]) },
    sshPrivateKey: { value: privateKey, secret: true },
    ufw: { value: JSON.stringify(config.settings.ufw) },
    fail2ban: { value: JSON.stringify(config.settings.fail2ban) },
  };
  if (viaSudoUser) values.hostCredentials = { value: JSON.stringify(config.hostCredentials), secret: true };
  await program.stack.setAllConfig(values);
}

/** A node's stack: through `ops` and its password (secret hostCredentials), plus a secret private key (tried first). */
const configureTarget = (t: Target, s: Settings) => configureStack(t.stack, t.host, true, s);

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

/** A stack's state is what it was before a failure: counted in the figures, then asserted. */
async function assertStateUnchanged(program: ProgramStack, stateBefore: Record<string, unknown>[]): Promise<void> {
  const stateAfter = (await stateOf(program)).filter((resource) => !isPreflight(resource));
  stateBefore = stateBefore.filter((resource) => !isPreflight(resource));
  if (JSON.stringify(stateAfter) !== JSON.stringify(stateBefore)) lost.stateChangedByFailures++;
  assert.deepEqual(stateAfter, stateBefore, "state unchanged");
}

async function failing(place: string, operation: () => Promise<unknown>) {
  const result = await mustFail(place, operation);
  seen.push({ place: `error of ${place}`, text: result.text });
  return result;
}

/** Rules stored in ufw's files inside the node, per family, in file order. */
async function storedRules(node: SandboxHost) {
  const v4 = parseUserRules(await run(node, "cat /etc/ufw/user.rules"), "v4");
  const v6 = parseUserRules(await run(node, "cat /etc/ufw/user6.rules"), "v6");
  return { v4, v6 };
}

/** Ports of rules stored more than once, and whether ufw's files are valid iptables-restore input. */
async function ufwIntegrity(node: SandboxHost) {
  const { v4, v6 } = await storedRules(node);
  const keys = [...v4, ...v6].map((t) => JSON.stringify({ ...t, comment: undefined }));
  const duplicates = keys.filter((key, i) => keys.indexOf(key) !== i);
  const valid = (await hostExec(node, "iptables-restore --test /etc/ufw/user.rules && ip6tables-restore --test /etc/ufw/user6.rules")).code === 0;
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
async function limitRefusals(node: SandboxHost): Promise<number> {
  const rejects = (await run(node, "iptables -L ufw-user-limit -v -n -x")).split("\n").filter((line) => /\bREJECT\b/.test(line));
  assert.equal(rejects.length, 1, "ufw's IPv4 limit chain holds its REJECT rule");
  return Number(rejects[0].trim().split(/\s+/)[0]);
}

before(async () => {
  await down();
  inventory = await up({ count: 0, nodes: RELEASES.map((release) => ({ release })) });
  privateKey = readFileSync(inventory.hosts[0].privateKeyPath, "utf8");
  for (const [i, release] of RELEASES.entries()) {
    const node = inventory.hosts[i];
    assert.equal(node.release, release);
    const stack = await ProgramStack.create(`rel-s${i + 1}-${process.pid}`, sandboxConfig([{ host: node }]));
    await stack.stack.removeConfig("sshPrivateKeyPath");
    const sshSeen = await hostSshCounter(node);
    const original = await fingerprint(node);
    const fail2banBefore = (await hostExec(node, "fail2ban-client ping", { timeoutMs: 30_000 })).code === 0;
    const versions = (await run(node, "cat /etc/debian_version; fail2ban-client --version; ssh -V 2>&1")).trim().split("\n").join(", ");
    const describe = `${node.name}, a systemd-booted ${RELEASE_NAMES[release]} (${release}) node, journal only (${versions})`;
    targets[release] = { release, host: node, stack, original, hardened: original, sshSeen, fail2banBefore, describe };
    await configureTarget(targets[release], {});
  }
  ({ host, stack: s1 } = targets.trixie);
}, { timeout: 300_000 });

after(async () => {
  for (const program of [stackB, stackU, ...Object.values(targets).map((t) => t.stack)]) await program?.remove();
  await down();
}, { timeout: 600_000 });

// ------------------------------------------------------------------ lockout, limit, security during create

/**
 * The create's own line about fail2ban: Debian 13's fail2ban ran from boot and is reloaded;
 * Debian 12's, journal only, failed its own test at boot (its stock sshd jail wants
 * /var/log/auth.log) and is started by the program.
 */
const FAIL2BAN_LINE: Record<Release, (name: string) => RegExp> = {
  trixie: (name) => new RegExp(`\\[${name}\\] fail2ban reloaded; running jails: `),
  bookworm: (name) => new RegExp(`\\[${name}\\] fixed: fail2ban's configuration failed its own test before this run \\([^\\n]*\\), so fail2ban could not run; with the files this program wrote it passes, and fail2ban was started with the jails `),
};

for (const release of RELEASES) {
  test(named(release, "a limit rule on the SSH port works: create, a second up and a refresh each use one connection"), { timeout: 900_000 }, async () => {
    const t = targets[release];
    const name = t.host.name;
    await startProcessCapture(t.host, 240);
    let createOutput = "";
    const create = await t.stack.stack.up({ debug: true, onOutput: (text) => (createOutput += text), onError: (text) => (createOutput += text) });
    assert.equal(create.summary.result, "succeeded");
    createOutput += `\n${create.stdout}\n${create.stderr}`;
    assert.match(createOutput, FAIL2BAN_LINE[release](name), "the providers' log lines are in the output");
    seen.push({ place: `engine output of up --debug on ${name} (with the providers' log lines)`, text: createOutput });
    assert.equal(await t.sshSeen(), 1, "the node saw one SSH connection for the whole create");
    assert.equal(count(events(t.stack), "connect"), 1, "the program's metrics: one connection");
    const lines = await stopProcessCapture(t.host);
    seen.push({ place: `command lines inside ${name} during up`, text: lines.join("\n") });
    measured[on(t, "process command lines sampled inside the node during the create")] = lines.length;
    assert.ok(lines.some((line) => line.includes("sudo -k -S")), "the capture saw the program's commands");
    // sudo logs every command it runs to the journal (a default Proxmox VE install has no auth.log).
    const sudoLines = (await authLog(t.host, ["sudo"])).filter((line) => line.includes("COMMAND="));
    assert.ok(sudoLines.length > 0, "sudo logged the commands it ran");
    seen.push({ place: `sudo's log of every command on ${name} (the journal)`, text: sudoLines.join("\n") });
    measured[on(t, "commands sudo logged during the create")] = sudoLines.length;

    const status = await run(t.host, "ufw status");
    assert.match(status, /^22\/tcp +LIMIT +Anywhere/m);
    assert.match(status, /^22\/tcp \(v6\) +LIMIT +Anywhere \(v6\)/m);

    // Files the program wrote: root-owned, 0644 (none holds a secret).
    const modes = await run(t.host, "stat -c '%a %U:%G %n' /etc/fail2ban/filter.d/proxmox.conf /etc/fail2ban/jail.d/proxmox-hardening-*.local");
    for (const line of modes.trim().split("\n")) assert.match(line, /^644 root:root \//, line);
    measured[on(t, "files written by the program, all 644 root:root")] = modes.trim().split("\n").length;

    const again = await t.stack.stack.up();
    assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
    assert.equal(await t.sshSeen(), 0, "a no-op up: the node saw no SSH connection");
    assert.equal(count(events(t.stack), "connect"), 0, "the program's metrics: no connection");

    // The refresh runs with the engine's most verbose logging, the providers' included. At -v=9
    // the engine prints every property it marshals over gRPC, and it hands the stack's whole
    // config to the Node.js dynamic-provider plugin in Configure (a plugin that does not accept
    // secrets, so they go unwrapped): those lines are Pulumi's own and are counted apart;
    // every other line of the output must be free of secrets.
    let output = "";
    const refreshed = await t.stack.stack.refresh({ debug: true, logVerbosity: 9, logFlow: true, logToStdErr: true, onOutput: (text) => (output += text), onError: (text) => (output += text) });
    assert.equal(refreshed.summary.result, "succeeded");
    assert.equal(await t.sshSeen(), 1, "refresh: the node saw one SSH connection");
    assert.equal(count(events(t.stack), "connect"), 1, "the program's metrics: one connection");
    const configureDump = /(Un)?[Mm]arshaling property for RPC\[Provider\[[^\]]*\]\.Configure\(\)\.inputs\]/;
    const engineLines = `${output}\n${refreshed.stdout}\n${refreshed.stderr}`.split("\n");
    seen.push({ place: `engine output of refresh --debug -v=9 --logflow --logtostderr on ${name} (without the engine's Configure dumps)`, text: engineLines.filter((line) => !configureDump.test(line)).join("\n") });
    configureInputLines.push(...engineLines.filter((line) => configureDump.test(line)));
    measured[on(t, "engine output of the verbose refresh searched for secrets (lines)")] = engineLines.length;
    assert.equal(await limitRefusals(t.host), 0, "ufw's limit refused no connection of the program");
    t.hardened = await fingerprint(t.host);
    ran("limit", release);
  });
}

// ------------------------------------------------------------------ host key, unreachable, sshd stopped

test(named("trixie", "a changed host key is refused before any command runs; state and node unchanged"), { timeout: 900_000 }, async () => {
  const t = targets.trixie;
  const stateBefore = await stateOf(s1);
  await t.sshSeen();
  const accepted = async () => (await authLog(host, SSHD_IDENTIFIERS)).filter((line) => /\bAccepted /.test(line)).length;
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
    assert.equal(await t.sshSeen(), 1, "the node saw one connection: the handshake, not retried");
    ran("host-key", "trixie");
  } finally {
    await run(host, "cp -a /root/prl-key/ssh_host_ed25519_key* /etc/ssh/ && rm -rf /root/prl-key");
    await stopSshd(host);
    await startSshd(host);
  }
  await assertStateUnchanged(s1, stateBefore);
  assertSame(t.hardened, await fingerprint(host), "after the host key test");
});

test(named("trixie", "an unreachable host fails within connectTimeoutSeconds, naming host and address, and leaves no resource in state"), { timeout: 900_000 }, async () => {
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
  ran("unreachable", "trixie");
});

for (const release of RELEASES) {
  test(named(release, "sshd stopped: refresh fails within connectTimeoutSeconds naming the host; state and node unchanged"), { timeout: 900_000 }, async () => {
    const t = targets[release];
    const stateBefore = await stateOf(t.stack);
    await t.sshSeen();
    await stopSshd(t.host);
    let refusedAt = Date.now();
    try {
      const { text } = await failing(`refresh with sshd stopped on ${t.host.name}`, () => t.stack.stack.refresh());
      refusedAt = Date.now();
      assert.match(text, new RegExp(`\\[host ${t.host.name}, resource ssh ops@${escaped(t.host.address)}:22\\] could not open an SSH connection after \\d attempts? in \\d+\\.\\d s \\(connectTimeoutSeconds=${CONNECT_TIMEOUT}\\): connect ECONNREFUSED`));
      assert.match(text, /next: check that .* is reachable from this machine and sshd runs there/);
      const failed = events(t.stack).filter((e) => e.event === "connect-failed");
      assert.equal(failed.length, 1, "one bounded attempt series for the whole refresh, not one per resource");
      assert.ok(Number(failed[0].ms) <= CONNECT_TIMEOUT * 1000 + 500, `gave up after ${failed[0].ms} ms`);
      measured[on(t, "sshd stopped: connection given up after (ms)")] = Number(failed[0].ms);
      // ufw's limit counts refused attempts too: the node saw as many as the message reports.
      const attempts = Number(/after (\d+) attempts?/.exec(text)?.[1]);
      assert.equal(await t.sshSeen(), attempts, "refused connection attempts the node saw");
      measured[on(t, "sshd stopped: refused connection attempts the node saw")] = attempts;
      ran("sshd-stopped", release);
    } finally {
      await startSshd(t.host);
      // The stack's `limit` rule on port 22 counted the refused attempts.
      await waitOutUfwLimit(refusedAt);
    }
    await assertStateUnchanged(t.stack, stateBefore);
    assertSame(t.hardened, await fingerprint(t.host), "after sshd was stopped");
  });
}

// ------------------------------------------------------------------ fail2ban: samples and a failing test

for (const release of RELEASES) {
  test(named(release, "filter samples that do not match on the node: up fails naming host, resource and field; node untouched"), { timeout: 900_000 }, async () => {
    const t = targets[release];
    const name = t.host.name;
    const stateBefore = await stateOf(t.stack);
    const filter = {
      name: "prlsample",
      failregex: [String.raw`^\S+ \S+ myapp\[\d+\]: login failed from <HOST>$`],
      samples: { match: ["2026-11-25T13:40:01.000000+00:00 pve1 myapp[12]: login FAILED for 192.0.2.10"] },
    };
    // Journal only: the jail reads the journal (backend auto finds no /var/log/syslog).
    await configureTarget(t, { filters: [proxmoxFilterDefaults, filter], jails: [referenceSshdJail, referenceProxmoxJail, { name: "prlsample", filter: { name: "prlsample" }, logpath: ["/var/log/syslog"] }] });
    const { text } = await failing(`up with samples that do not match on ${name}`, () => t.stack.stack.up());
    assert.match(text, new RegExp(`\\[host ${name}, resource fail2ban:Filter ${name}-fail2ban-filter-prlsample, field filter\\.samples\\] the filter's samples do not behave on the host, so the filter was not installed`));
    assert.match(text, /should match but does not: 2026-11-25T13:40:01\.000000\+00:00 pve1 myapp\[12\]: login FAILED for 192\.0\.2\.10/);
    events(t.stack);
    await configureTarget(t, {});
    await assertStateUnchanged(t.stack, stateBefore);
    assertSame(t.hardened, await fingerprint(t.host), "after the sample check failed");
    ran("samples", release);
  });
}

for (const release of RELEASES) {
  test(named(release, "a fail2ban configuration that fails its test is rolled back; fail2ban keeps running and banning"), { timeout: 900_000 }, async () => {
    const t = targets[release];
    const name = t.host.name;
    const stateBefore = await stateOf(t.stack);
    await run(t.host, "mv /etc/fail2ban/filter.d/3proxy.conf /root/prl-3proxy.conf");
    try {
      await configureTarget(t, { jails: [referenceSshdJail, referenceProxmoxJail, { name: "prlproxy", filter: { name: "3proxy" }, port: 3128, logpath: ["/var/log/syslog"] }] });
      const { text } = await failing(`up with a jail whose filter is missing on ${name}`, () => t.stack.stack.up());
      assert.match(text, new RegExp(`\\[host ${name}, resource fail2ban:Jail ${name}-fail2ban-jail-prlproxy, field jail\\] fail2ban-client -t rejected the new /etc/fail2ban/jail\\.d/proxmox-hardening-jail-prlproxy\\.local; the previous \\S+ was put back, fail2ban was not reloaded and keeps running on its previous configuration`));
      events(t.stack);
      assert.equal((await hostExec(t.host, "test -e /etc/fail2ban/jail.d/proxmox-hardening-jail-prlproxy.local")).code, 1, "the jail file was rolled back");
      assert.match(await run(t.host, "fail2ban-client ping"), /pong/, "fail2ban still runs");
      // Still banning: an attacker's three failed SSH logins, which sshd logs to the journal
      // (sshd-session on Debian 13), get it banned by the sshd jail, its ban in the node's firewall.
      attacker ??= await addClient("relattack");
      const attempts = await bruteForceSsh(attacker, t.host, 3);
      assert.deepEqual(attempts, ["denied", "denied", "denied"], "sshd rejected each password");
      assert.ok(await waitForBan(t.host, "sshd", attacker.address, 60_000), `${attacker.address} banned by the sshd jail on ${name}, the ban in the firewall`);
      await run(t.host, `fail2ban-client set sshd unbanip ${attacker.address}`);
      ran("fail2ban-test", release);
    } finally {
      await run(t.host, "mv /root/prl-3proxy.conf /etc/fail2ban/filter.d/3proxy.conf");
      await configureTarget(t, {});
    }
    await assertStateUnchanged(t.stack, stateBefore);
    // fail2ban's iptables actions (Debian 12) create a jail's chain (f2b-sshd) at its first ban and
    // keep it: the ban above did that. Debian 13's nftables actions use a table iptables-save does not show.
    const now = await fingerprint(t.host);
    const withoutBanChain = (f: HostFingerprint) => ({ ...f, ruleset: { v4: f.ruleset.v4.split("\n").filter((line) => !line.includes("f2b-sshd")).join("\n"), v6: f.ruleset.v6.split("\n").filter((line) => !line.includes("f2b-sshd")).join("\n") } });
    assertSame(withoutBanChain(t.hardened), withoutBanChain(now), "after the rollback");
    t.hardened = now;
  });
}

// ------------------------------------------------------------------ interrupted writes on the host

test(named("trixie", "an atomic write interrupted on the node keeps the old file and leaves no temp file"), { timeout: 900_000 }, async () => {
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
    ran("write-script", "trixie", 4);
  } finally {
    await run(host, `rm -f ${path} /run/prl-write.sh; find /etc/fail2ban -name '.proxmox-hardening.*' -delete`);
  }
  assertSame(targets.trixie.hardened, await fingerprint(host), "after the interrupted writes");
});

// ------------------------------------------------------------------ connections cut in the middle of up

/**
 * Changes a node's stack config, starts `up`, stops sshd inside the node (its sessions, the
 * program's connection among them, killed) after `cutAfter` remote commands of that up, checks
 * what the node holds, then runs `up` again and checks it converged.
 */
async function cutRun(t: Target, index: number, next: Settings, cutAfter: number, expectRules: (ports: string[]) => void) {
  const program = t.stack;
  const old = await fingerprint(t.host);
  await configureTarget(t, next);
  events(program);
  await t.sshSeen();
  let settled = false;
  const upRun = program.stack.up().then(
    () => "succeeded",
    (error) => errorText(error),
  );
  void upRun.then(() => (settled = true));
  await waitFor(`cut point ${cutAfter}`, 300_000, () => (settled || count(peekEvents(program.metricsFile), "command") >= cutAfter ? true : undefined), 50);
  assert.ok(!settled, `run ${index}: the up finished before ${cutAfter} commands`);
  await stopSshd(t.host);
  const outcome = await upRun;
  assert.notEqual(outcome, "succeeded", `run ${index}: the cut up failed`);
  seen.push({ place: `error of the up cut after ${cutAfter} commands on ${t.host.name}`, text: outcome });
  const commandsBeforeCut = count(events(program), "command");
  // Scripts already running on the node go on without their connection: let them end.
  const orphans = (await hostExec(t.host, "pgrep -fc 'proxmox-hardening[.]lock'")).stdout.trim();
  measured[on(t, `cut run ${index}: remote scripts still running on the node after the cut`)] = Number(orphans || 0);
  await waitFor("orphaned remote scripts to end", 120_000, async () => ((await hostExec(t.host, "pgrep -f 'proxmox-hardening[.]lock'")).code === 0 ? undefined : true), 500);
  const mid = await fingerprint(t.host);
  if (mid.leftovers.length > 0) lost.leftoverTempFiles += mid.leftovers.length;
  assert.deepEqual(mid.leftovers, [], `run ${index}: no temp file left`);
  const integrity = await ufwIntegrity(t.host);
  if (integrity.duplicates.length > 0 || !integrity.valid) lost.missingOrDuplicateRules++;
  assert.ok(integrity.valid, `run ${index}: ufw's rule files are complete`);
  assert.deepEqual(integrity.duplicates, [], `run ${index}: no rule stored twice`);
  await startSshd(t.host);
  const converged = await program.stack.up();
  assert.equal(converged.summary.result, "succeeded", `run ${index}: the next up converges`);
  events(program);
  const now = await fingerprint(t.host);
  // Every file the program manages is, at the cut, either what it was or what it became.
  const managed = Object.keys({ ...old.files, ...mid.files, ...now.files }).filter((path) => path.startsWith("/etc/fail2ban/") || path.startsWith("/etc/pve/"));
  for (const path of managed) {
    const ok = mid.files[path] === old.files[path] || mid.files[path] === now.files[path];
    if (!ok) lost.halfWrittenFiles++;
    assert.ok(ok, `run ${index}: ${path} at the cut is neither its old nor its new content`);
  }
  const { v4 } = await storedRules(t.host);
  expectRules(v4.map((t) => t.dport));
  const after = await ufwIntegrity(t.host);
  assert.deepEqual(after.duplicates, [], `run ${index}: no rule stored twice after converging`);
  assert.equal((await hostExec(t.host, "fail2ban-client -t")).code, 0, `run ${index}: fail2ban's configuration passes its test`);
  assert.match(await run(t.host, "systemctl is-active fail2ban.service ssh.service"), /^active\nactive\n$/, `run ${index}: fail2ban and sshd run as their units`);
  measured[on(t, `cut run ${index}: remote commands before the cut`)] = commandsBeforeCut;
  measured[on(t, `cut run ${index}: SSH connections the node saw (the cut up, its retries, the next up)`)] = await t.sshSeen();
  ran("cut", t.release);
}

const portsOf = (rules: { port: number | string }[]) => rules.map((r) => String(r.port));
const expectPorts = (expected: string[], what: string) => (ports: string[]) => {
  if (JSON.stringify(ports) !== JSON.stringify(expected)) lost.missingOrDuplicateRules++;
  assert.deepEqual(ports, expected, what);
};
const KEPT = FIFTY.slice(0, 45);
/** The three cut runs, each from the config the one before left. */
const CUT_RUNS: { settings: Settings; ports: string[]; what: string }[] = [
  // 1: adding 50 rules and rewriting the fail2ban defaults.
  { settings: { extraRules: FIFTY, defaults: { bantime: 7200 } }, ports: [...portsOf(BASE_RULES), ...portsOf(FIFTY)], what: "all 50 rules present exactly once, in order" },
  // 2: removing the last 5 of them, and rewriting the defaults and both jails.
  {
    settings: { extraRules: KEPT, defaults: { bantime: 5400, maxretry: 4 }, jails: [{ ...referenceSshdJail, maxretry: 5 }, { ...referenceProxmoxJail, maxretry: 4 }] },
    ports: [...portsOf(BASE_RULES), ...portsOf(KEPT)],
    what: "45 rules left",
  },
  // 3: five new rules, the defaults and jails back.
  { settings: { extraRules: [...KEPT, ...FIVE], defaults: { findtime: 600 } }, ports: [...portsOf(BASE_RULES), ...portsOf(KEPT), ...portsOf(FIVE)], what: "five more" },
];

for (const release of RELEASES) {
  // How sshd's sessions end differs by release (OpenSSH 9.2's sshd, 10's sshd-session); the
  // first run (50 rules, the longest) shows it on Debian 12, all three run on Debian 13.
  const cuts = FAULT_PLAN.find((plan) => plan.id === "cut")!.runs[release] ?? 0;
  test(named(release, "connections cut in the middle of up leave no half-written file, and the next up converges"), { timeout: 1_800_000 }, async () => {
    const t = targets[release];
    for (const [i, cut] of CUT_RUNS.slice(0, cuts).entries()) {
      await cutRun(t, i + 1, cut.settings, CUT_AFTER_COMMANDS[i], expectPorts(cut.ports, cut.what));
      if (i === 0) ran("fifty-rules", release);
    }
  });
}

// ------------------------------------------------------------------ two stacks at once

test(named("trixie", "a second stack on the node, its up started with the first's: refused naming the first, nothing changed; the first's up complete"), { timeout: 1_200_000 }, async () => {
  // B would manage the same host with the reference rules and fail2ban files, its own rules and [DEFAULT] values.
  stackB = await createB();
  const defaultsA = { bantime: 7200 };
  const defaultsB = { bantime: 5400 };
  await configureTarget(targets.trixie, { extraRules: [...FIFTY.slice(0, 45), ...FIVE, ...A_SET], defaults: defaultsA });
  await configureStack(stackB, host, false, { extraRules: B_SET, defaults: defaultsB });
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
  events(s1);
  events(stackB);
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
  const { v4 } = await storedRules(host);
  const ports = v4.map((t) => t.dport);
  for (const r of [...A_SET, ...BASE_RULES]) {
    const n = ports.filter((p) => p === String(r.port)).length;
    if (n !== 1) lost.missingOrDuplicateRules++;
    assert.equal(n, 1, `rule ${r.port} stored exactly once`);
  }
  for (const r of B_SET) assert.ok(!ports.includes(String(r.port)), `stack B's rule ${r.port} not added`);
  const integrity = await ufwIntegrity(host);
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
  ran("two-stacks", "trixie");
});

// ------------------------------------------------------------------ secrets, and destroy

test("no secret in plain text: state, engine and provider logs, errors, command lines, sudo's log, config files", { timeout: 900_000 }, async () => {
  const stacks = Object.values(targets).map((t) => t.stack);
  for (const program of stacks) {
    await stateOf(program);
    for (const file of [join(repoRoot, `Pulumi.${program.stack.name}.yaml`), program.metricsFile]) {
      if (existsSync(file)) seen.push({ place: file, text: readFileSync(file, "utf8") });
    }
  }
  // Pulumi's automatic logs of these stacks (~/.pulumi/logs, encrypted with the stack's secrets provider).
  const logsDir = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "logs");
  const names = [...stacks.map((program) => program.stack.name), `rel-b-${process.pid}`, `rel-unreach-${process.pid}`];
  const logFiles = existsSync(logsDir) ? readdirSync(logsDir).filter((file) => names.some((name) => file.includes(`+${name}-`))) : [];
  for (const file of logFiles) seen.push({ place: join(logsDir, file), text: readFileSync(join(logsDir, file), "latin1") });
  measured["Pulumi automatic log files of the suite's stacks searched"] = logFiles.length;
  const passwords = Object.values(targets).map((t) => t.host.sudoUser.password);
  const keyLines = privateKey.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----"));
  const secrets = [...passwords, privateKey.trim(), ...keyLines];
  const found: string[] = [];
  for (const { place, text } of seen) {
    for (const secret of secrets) {
      // As is, and as it would look inside a JSON string (a log line, a state file).
      if (text.includes(secret) || text.includes(JSON.stringify(secret).slice(1, -1))) found.push(`${place}: ${passwords.includes(secret) ? "a password" : "the private key"}`);
    }
  }
  lost.secretsFound = found.length;
  assert.deepEqual(found, [], "secrets in plain text");
  // The state holds the credentials only encrypted: as the default provider's inputs, like every provider's config.
  for (const program of stacks) {
    const state = seen.filter((entry) => entry.place === `pulumi stack export ${program.stack.name}`).pop()?.text ?? "";
    assert.match(state, /"proxmox-hardening:hostCredentials": \{\s*"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",\s*"ciphertext"/);
  }
  measured["engine -v=9 lines dumping the dynamic provider's Configure inputs (Pulumi's own, secrets in them)"] = configureInputLines.filter((line) => secrets.some((secret) => line.includes(secret) || line.includes(JSON.stringify(secret).slice(1, -1)))).length;
  assert.ok(seen.length >= 10, "the search covered the places it should");
  measured["texts searched for secrets"] = seen.length;
});

for (const release of RELEASES) {
  test(named(release, "destroy returns the node to its exact state before the suite"), { timeout: 900_000 }, async () => {
    const t = targets[release];
    // Since ufw last loaded its rules, its limit refused none of the program's connections.
    assert.equal(await limitRefusals(t.host), 0, "ufw's limit refused no connection");
    // Both counts start here, whatever a failed test before left uncounted.
    await t.sshSeen();
    events(t.stack);
    const destroyed = await t.stack.stack.destroy();
    assert.equal(destroyed.summary.result, "succeeded");
    assert.equal(await t.sshSeen(), 1, "destroy: the node saw one SSH connection (limit rule still on until the end)");
    const destroyEvents = events(t.stack);
    assert.equal(count(destroyEvents, "connect"), 1, "the program's metrics: one connection");
    // Files, modes, owners, ufw's view and the Proxmox options exactly as before. The ruleset inside
    // the node filters alike: `ufw disable` empties its chains but leaves them (and the jumps to
    // them) until the next boot, as on any host, and fail2ban's chain stays empty without bans.
    const after = await fingerprint(t.host);
    for (const family of ["v4", "v6"] as const) {
      const same = JSON.stringify(effectiveRules(after.ruleset[family])) === JSON.stringify(effectiveRules(t.original.ruleset[family]));
      if (!same) lost.hostsNotRestored++;
      assert.deepEqual(effectiveRules(after.ruleset[family]), effectiveRules(t.original.ruleset[family]), `after destroy: the ${family} ruleset filters as before`);
    }
    assertSame(t.original, { ...after, ruleset: t.original.ruleset }, "after destroy");
    // fail2ban as before the suite: on Debian 13 it ran from boot, on Debian 12 (journal only) it had failed at boot.
    const running = (await hostExec(t.host, "fail2ban-client ping", { timeoutMs: 30_000 })).code === 0;
    if (running !== t.fail2banBefore) lost.hostsNotRestored++;
    assert.equal(running, t.fail2banBefore, `after destroy: fail2ban ${t.fail2banBefore ? "running" : "stopped"} as before the suite`);
    const connects = allEvents.filter((e) => e.event === "connect" && e.host === t.host.name);
    measured[on(t, "most SSH connections within 30 s, by the program's own metrics")] = maxConnectionsInWindow(connects);
    assert.ok(maxConnectionsInWindow(connects) < 6, "below ufw's limit of 6 in 30 s");
  });
}

test("the run injected every planned fault on the planned nodes and lost nothing", { timeout: 60_000 }, () => {
  // docs/RELIABILITY.md shows what this run counted, losses included: the figures are written
  // whatever the tests above found.
  measured["machine load average at the end (1, 5, 15 min)"] = loadavg().map((n) => n.toFixed(1)).join(", ");
  writeFigures({ faults: { runs, lost, measured, nodes: Object.values(targets).map((t) => t.describe), seconds: Math.round((Date.now() - started) / 1000) } });
  for (const plan of FAULT_PLAN) assert.deepEqual(runs[plan.id], plan.runs, `${plan.id}: runs as planned`);
  assert.deepEqual(Object.values(lost), [0, 0, 0, 0, 0, 0], "nothing lost");
});
