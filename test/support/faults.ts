import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Stack } from "@pulumi/pulumi/automation";
import { assertSandboxAddress, hostExec, SandboxHost } from "../../sandbox";
import { HOST_LOCK_PATH } from "../../providers/ssh/lock";
import { shellQuote } from "../../providers/ssh/quote";
import { BEFORE_DIR } from "../../providers/ssh/before";
import { FILE_PROBES, fileMap, HostState, run } from "./host-state";

// Fault injection and observation for the reliability suite (issue 8). Every
// fault is injected inside a sandbox host (its own PID and network
// namespaces): never on the machine itself. Every wait is bounded.

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `probe` returns a value, at most `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// ------------------------------------------------------------------ what a host holds

/** Everything the program could change on a host, as checksums and listings. */
export interface HostFingerprint extends HostState {
  /** iptables-save / ip6tables-save inside the host, without comments and counters. */
  ruleset: { v4: string; v6: string };
  /** Temp files the program's scripts create, left behind (must always be empty). */
  leftovers: string[];
  /** ufw's stored rules (the tuple lines of user.rules and user6.rules), for messages. */
  ufwRules: string[];
  /** The program's records of what the host had before (providers/ssh/before.ts): files and directories. */
  records: string[];
}

const normalizeRuleset = (text: string) =>
  text
    .split("\n")
    .filter((line) => !line.startsWith("#"))
    .map((line) => line.replace(/ \[\d+:\d+\]$/, ""))
    .join("\n");

/**
 * Temp files of atomic writes (.proxmox-hardening.*) and the sample check's temp dirs. A find
 * that fails makes the command fail: an empty list must mean "none", never "not looked".
 */
export const LEFTOVERS_COMMAND = "set -o pipefail; { find /etc /var/tmp -name '.proxmox-hardening.*' && find /tmp -maxdepth 1 -name 'tmp.*'; } | sort";

// The records' top directory: destroy removes it once it has emptied it.
const RECORDS_TOP = BEFORE_DIR.slice(0, BEFORE_DIR.lastIndexOf("/"));
const RECORDS_PROBE = `[ ! -e ${RECORDS_TOP} ] || find ${RECORDS_TOP} -printf '%y %p\\n' | sort`;
const SECTION = /=== prl-section (\d+) ===\n/;

/**
 * Everything in one round trip into the host (the suite takes many): the same
 * file map as host-state.ts's hostState (path -> "mode owner:group sha256"),
 * ufw's view, the Proxmox options, the ruleset, leftovers, ufw's stored rules and
 * the program's records.
 * Each probe's exit status is kept: one that fails throws, naming it, rather than
 * leaving an empty section that would compare equal on both sides.
 */
export async function fingerprint(host: SandboxHost): Promise<HostFingerprint> {
  const parts = [
    ...FILE_PROBES,
    "ufw status verbose",
    "pvesh get /cluster/firewall/options --output-format json",
    "iptables-save",
    "ip6tables-save",
    LEFTOVERS_COMMAND,
    // grep's 1 is "no rule stored" (a host without ufw rules); 2 is an error.
    "grep -h '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules; [ $? -le 1 ]",
    RECORDS_PROBE,
  ];
  const script = ["set -o pipefail", ...parts.map((part) => `(${part}); echo "=== prl-section $? ==="`)].join("\n");
  const result = await hostExec(host, script, { timeoutMs: 60_000 });
  const pieces = result.stdout.split(SECTION);
  const failed = parts.filter((_, i) => pieces[2 * i + 1] !== "0");
  if (result.code !== 0 || failed.length > 0) throw new Error(`${host.name}: fingerprint probes failed (${failed.join(" | ") || `exit ${result.code}`}): ${result.stderr}`);
  const [stats, sums, ufwStatus, pvesh, v4, v6, leftovers, tuples, records] = parts.map((_, i) => pieces[2 * i]);
  return {
    files: fileMap(stats, sums),
    ufwStatus,
    pveshOptions: JSON.parse(pvesh) as Record<string, unknown>,
    ruleset: { v4: normalizeRuleset(v4), v6: normalizeRuleset(v6) },
    leftovers: leftovers.split("\n").filter(Boolean),
    ufwRules: tuples.split("\n").filter(Boolean),
    records: records.split("\n").filter(Boolean),
  };
}

/**
 * What a ruleset does, without the bookkeeping that has no effect: tables and
 * built-in chains absent count as empty with policy ACCEPT, and user chains
 * whose rules only return (such as ufw's chains after `ufw disable`, or
 * fail2ban's chain with no ban) drop out with every jump to them. Two
 * rulesets with the same effective rules filter every packet alike; the order
 * of the rules within a chain is kept, since it decides which rule matches.
 */
export function effectiveRules(save: string): string[] {
  const rules = new Map<string, string[]>();
  const policies: string[] = [];
  let table = "";
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) {
      const [chain, policy] = line.slice(1).split(" ");
      if (policy !== "-" && policy !== "ACCEPT") policies.push(`${table} ${chain} policy ${policy}`);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1];
      const key = `${table} ${chain}`;
      rules.set(key, [...(rules.get(key) ?? []), line]);
    }
  }
  const target = (rule: string) => / -j (\S+)/.exec(rule)?.[1];
  const inert = new Set<string>();
  for (let round = 0, changed = true; changed && round < 100; round++) {
    changed = false;
    for (const [key, list] of rules) {
      if (inert.has(key) || ["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"].includes(key.split(" ")[1])) continue;
      const tableOf = key.split(" ")[0];
      if (list.every((rule) => target(rule) === "RETURN" || inert.has(`${tableOf} ${target(rule)}`) || !rules.has(`${tableOf} ${target(rule)}`) && !["ACCEPT", "DROP", "REJECT", "LOG", "MARK", "CONNMARK"].includes(target(rule) ?? ""))) {
        inert.add(key);
        changed = true;
      }
    }
  }
  // Chains in a fixed order, each chain's rules in their own order: ufw applies the first match.
  const effective: string[] = [...policies.sort()];
  for (const key of [...rules.keys()].sort()) {
    const list = rules.get(key)!;
    if (inert.has(key)) continue;
    const tableOf = key.split(" ")[0];
    for (const rule of list) {
      const jumpsTo = target(rule);
      const toUserChain = jumpsTo !== undefined && !["ACCEPT", "DROP", "REJECT", "RETURN", "LOG"].includes(jumpsTo);
      if (toUserChain && (inert.has(`${tableOf} ${jumpsTo}`) || !rules.has(`${tableOf} ${jumpsTo}`))) continue;
      effective.push(`${tableOf} ${rule}`);
    }
  }
  return effective;
}

/** Paths whose checksum, mode or owner differ between two fingerprints (added and removed files too). */
export function changedFiles(a: HostState, b: HostState): string[] {
  const paths = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
  return [...paths].filter((path) => a.files[path] !== b.files[path]).sort();
}

/** sha256 of a file inside the host, or "absent". */
export async function fileSum(host: SandboxHost, path: string): Promise<string> {
  const out = await run(host, `if [ -f '${path}' ]; then sha256sum '${path}' | cut -d' ' -f1; else echo absent; fi`);
  return out.trim();
}

// ------------------------------------------------------------------ sshd

/**
 * Whether sshd listens inside the host, seen from inside (`ss`): a probe from the
 * machine would be a new connection to port 22, which ufw's `limit` rule counts.
 */
async function sshdListening(host: SandboxHost): Promise<boolean> {
  return (await run(host, "ss -Hltn 'sport = :22' | wc -l")).trim() !== "0";
}

/**
 * sshd's process names: the listener, and up to OpenSSH 9.7 (Debian 12's 9.2) every session too;
 * from 9.8 sessions run as sshd-session, and from 10.0 (Debian 13) authentication as sshd-auth.
 */
const SSHD_PROCESSES = "'sshd|sshd-session|sshd-auth'";

/**
 * Stops sshd inside the host (listener and every session): new connections are refused and open
 * ones cut. On a node sshd is the unit ssh.service, stopped as on any Debian (a listener killed
 * by hand would be restarted by its Restart=on-failure); its KillMode=process leaves the sessions,
 * which are then killed. A namespace host has no systemd: its sshd is killed.
 */
export async function stopSshd(host: SandboxHost): Promise<void> {
  const unit = host.kind === "node" ? "systemctl stop ssh.service && " : "";
  await run(host, `${unit}{ pkill -KILL -x ${SSHD_PROCESSES} || true; }; i=0; while pgrep -x ${SSHD_PROCESSES} >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; ! pgrep -x ${SSHD_PROCESSES} >/dev/null`);
  await waitFor(`${host.name}: port 22 closed`, 5_000, async () => ((await sshdListening(host)) ? undefined : true));
}

/** Starts sshd inside the host again (a node's ssh.service; as the sandbox's init does on a namespace host) and waits until it listens. */
export async function startSshd(host: SandboxHost): Promise<void> {
  await run(host, host.kind === "node" ? "systemctl start ssh.service" : "pgrep -x sshd >/dev/null || /usr/sbin/sshd");
  await waitFor(`${host.name}: sshd listens`, 10_000, async () => ((await sshdListening(host)) ? true : undefined));
}

/**
 * ufw's `limit` rule counts every new connection to the port from a source,
 * refused ones included, and refuses the source for 30 s after 6 of them.
 * After a fault that made the program retry, wait until the window of the
 * last attempt (`lastAttemptAt`) has passed, as a user running `up` again
 * would have to; otherwise the next test's connection counts into it.
 */
export async function waitOutUfwLimit(lastAttemptAt: number): Promise<void> {
  await sleep(Math.max(0, lastAttemptAt + UFW_LIMIT_WINDOW_MS - Date.now()));
}
const UFW_LIMIT_WINDOW_MS = 31_000;

/** Drops every packet to or from port 22 inside the host's network namespace (a dead link). */
export async function dropSsh(host: SandboxHost): Promise<void> {
  await run(host, "iptables -I INPUT 1 -p tcp --dport 22 -j DROP -m comment --comment prl-fault && iptables -I OUTPUT 1 -p tcp --sport 22 -j DROP -m comment --comment prl-fault");
}

/** Removes what dropSsh added. */
export async function undropSsh(host: SandboxHost): Promise<void> {
  await run(host, "for chain in INPUT OUTPUT; do while iptables -S $chain | grep -q prl-fault; do iptables -D $chain $(iptables -S $chain | grep prl-fault | head -n1 | sed 's/^-A [A-Z]* //; s/\"//g'); done; done; true");
}

/** An address on the sandbox network where nothing answers (no host has it). */
export async function unusedSandboxAddress(host: SandboxHost): Promise<string> {
  const octets = host.address.split(".");
  const address = `${octets.slice(0, 3).join(".")}.${Number(octets[3]) + 50}`;
  await assertSandboxAddress(address);
  return address;
}

// ------------------------------------------------------------------ SSH connections, as the host saw them

const SSH_COUNT = "prl-ssh-count";

/**
 * Counts inside the host every new TCP connection to port 22, refused ones included, as
 * connection tracking sees them (ufw's `limit` counts the same): a figure that does not come
 * from the program's own metrics. The rule has no target, so it only counts, and sits in the
 * mangle table, which ufw never touches. Returns a function giving the connections since its
 * last call.
 */
export async function hostSshCounter(host: SandboxHost): Promise<() => Promise<number>> {
  for (const iptables of ["iptables", "ip6tables"]) await run(host, `${iptables} -t mangle -A PREROUTING -p tcp --dport 22 -m conntrack --ctstate NEW -m comment --comment ${SSH_COUNT}`);
  let counted = 0;
  return async () => {
    let total = 0;
    for (const iptables of ["iptables", "ip6tables"]) {
      const rules = (await run(host, `${iptables} -t mangle -L PREROUTING -v -n -x`)).split("\n").filter((line) => line.includes(SSH_COUNT));
      if (rules.length !== 1) throw new Error(`${host.name}: ${iptables}: expected one ${SSH_COUNT} rule, found ${rules.length}`);
      total += Number(rules[0].trim().split(/\s+/)[0]);
    }
    const since = total - counted;
    counted = total;
    return since;
  };
}

// ------------------------------------------------------------------ the host lock, as the host saw it

const LOCK_LOG = "/run/prl-lock.log";
const LOCK_HOLDER = "/run/prl-lock.holder";
const LOCK_GATE = "/run/prl-lock.gate";

/** One line of the lock log: who (the script's shell, its SSH user) asked for or got the host lock, and whether the last holder's shell was still alive then. */
export interface LockEvent {
  at: number;
  event: "request" | "acquired";
  pid: number;
  user: string;
  /** The last holder's shell while it still has the lock file open (it holds the lock until it exits), else undefined. */
  liveHolder?: number;
}

// The last holder's shell while it still has the lock file open. Not "while the process exists":
// an exiting shell closes its files (releasing the lock) before it turns into a zombie, and under
// load the next script can get the lock in between.
const LIVE_HOLDER = `h=$(cat ${LOCK_HOLDER} 2>/dev/null); if [ -n "$h" ] && ls -l /proc/$h/fd 2>/dev/null | grep -q ' -> ${HOST_LOCK_PATH}$'; then echo $h; else echo -; fi`;

/**
 * The liveness probe, tried on the host before it is trusted: a shell holding the lock is seen, one
 * that is alive without the lock is not, nor one that is gone. Throws naming the case that failed,
 * so a broken probe fails the test instead of making its check vacuous.
 */
async function checkLiveHolderProbe(host: SandboxHost): Promise<void> {
  const probe = `$(${LIVE_HOLDER})`;
  const script = [
    `sh -c 'exec 9>${HOST_LOCK_PATH}; /run/prl-flock.real -w 20 9 && echo $$ > ${LOCK_HOLDER} && exec sleep 30' & holding=$!`,
    `i=0; while [ "$(cat ${LOCK_HOLDER} 2>/dev/null)" != "$holding" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done`,
    `echo "holding $holding ${probe}"`,
    `sleep 30 & idle=$!; echo $idle > ${LOCK_HOLDER}; echo "idle - ${probe}"`,
    `kill $holding $idle; wait $holding $idle 2>/dev/null; echo $holding > ${LOCK_HOLDER}; echo "gone - ${probe}"`,
    `rm -f ${LOCK_HOLDER}`,
  ].join("\n");
  for (const line of (await run(host, script)).trim().split("\n")) {
    const [which, expected, saw] = line.split(" ");
    if (saw !== expected) throw new Error(`${host.name}: the lock log's liveness probe saw ${saw} for a shell ${which === "holding" ? `holding the lock (pid ${expected})` : which === "idle" ? "alive without the lock" : "that is gone"}`);
  }
}

/**
 * Logs inside the host every request for the program's host lock and every acquisition, with the
 * time, the script's shell (which holds the lock until it exits), its SSH user (sudo's SUDO_USER,
 * else the login user) and the last holder's shell if still alive: flock(1) is replaced by a
 * wrapper around the real one. With `gated`, every request waits (at most `gateSeconds`) before
 * the real flock until openLockGate: runs meant to overlap are seen waiting at once, then contend
 * for the lock together, and flock's own wait (-w) has not started. The bind mount exists only in
 * the host's own mount namespace; stopLockLog removes it.
 */
export async function startLockLog(host: SandboxHost, gateSeconds = 0): Promise<void> {
  const wrapper = [
    "#!/bin/sh",
    `line() { echo "$(date +%s.%N) $1 $PPID \${SUDO_USER:-$(id -un)} $(${LIVE_HOLDER})" >> ${LOCK_LOG}; }`,
    "line request",
    `i=0; while [ -e ${LOCK_GATE} ] && [ $i -lt ${gateSeconds * 10} ]; do sleep 0.1; i=$((i+1)); done`,
    '/run/prl-flock.real "$@" || exit $?',
    "line acquired",
    `echo $PPID > ${LOCK_HOLDER}`,
  ].join("\n");
  const gate = gateSeconds > 0 ? `touch ${LOCK_GATE}` : `rm -f ${LOCK_GATE}`;
  await run(host, `cp /usr/bin/flock /run/prl-flock.real && printf '%s\\n' ${shellQuote(wrapper)} > /run/prl-flock && chmod 755 /run/prl-flock && : > ${LOCK_LOG} && rm -f ${LOCK_HOLDER} && ${gate} && mount --bind /run/prl-flock /usr/bin/flock`);
  await checkLiveHolderProbe(host);
}

/** Lets the requests waiting at the gate (and every later one) go on to the real flock. */
export async function openLockGate(host: SandboxHost): Promise<void> {
  await run(host, `rm -f ${LOCK_GATE}`);
}

/** The lock log so far, in order. */
export async function lockLog(host: SandboxHost): Promise<LockEvent[]> {
  return (await run(host, `cat ${LOCK_LOG}`))
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [at, event, pid, user, holder] = line.split(" ");
      return { at: Number(at), event: event as LockEvent["event"], pid: Number(pid), user, ...(holder !== "-" ? { liveHolder: Number(holder) } : {}) };
    });
}

/** Ends the lock log (and opens the gate); returns it. */
export async function stopLockLog(host: SandboxHost): Promise<LockEvent[]> {
  await openLockGate(host);
  const events = await lockLog(host);
  await run(host, `umount /usr/bin/flock && rm -f ${LOCK_LOG} ${LOCK_HOLDER} /run/prl-flock /run/prl-flock.real`);
  return events;
}

/** Shells of `user` whose lock request is logged and that still run (waiting at the gate, or after). */
export async function pendingLockRequests(host: SandboxHost, user: string): Promise<number[]> {
  const pids = [...new Set((await lockLog(host)).filter((e) => e.event === "request" && e.user === user).map((e) => e.pid))];
  const alive = await run(host, `for p in ${pids.join(" ")}; do [ -d /proc/$p ] && echo $p; done; true`);
  return alive.split("\n").filter(Boolean).map(Number);
}

// ------------------------------------------------------------------ the providers' SSH metrics

export interface SshEvent {
  event: string;
  host: string;
  pid: number;
  at: number;
  [key: string]: unknown;
}

/** Reads the metrics file (without emptying it). */
export function peekEvents(metricsFile: string): SshEvent[] {
  if (!existsSync(metricsFile)) return [];
  return readFileSync(metricsFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SshEvent);
}

/** Reads and empties the metrics file. */
export function takeEvents(metricsFile: string): SshEvent[] {
  const events = peekEvents(metricsFile);
  writeFileSync(metricsFile, "");
  return events;
}

export const count = (events: SshEvent[], event: string) => events.filter((e) => e.event === event).length;

/** The most connections opened to one host within any `windowMs` (ufw's limit: 6 in 30 s). */
export function maxConnectionsInWindow(events: SshEvent[], windowMs = 30_000): number {
  const times = events.filter((e) => e.event === "connect").map((e) => e.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] > windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

// ------------------------------------------------------------------ engine errors

/** The whole text of an engine failure (the Automation API puts stdout and stderr in the message). */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const extra = error as Error & { stdout?: string; stderr?: string; commandResult?: { stdout?: string; stderr?: string } };
    return [error.message, extra.stdout, extra.stderr, extra.commandResult?.stdout, extra.commandResult?.stderr].filter(Boolean).join("\n");
  }
  return String(error);
}

/** Runs an engine operation that must fail; returns its text and how long it took. */
export async function mustFail(what: string, operation: () => Promise<unknown>): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  try {
    await operation();
  } catch (error) {
    return { text: errorText(error), ms: Date.now() - started };
  }
  throw new Error(`${what} succeeded but must fail`);
}

/** Sets exactly these program config keys (raw values, as JSON) on a stack, removing every other key of the project. */
export async function setRawConfig(stack: Stack, raw: Record<string, unknown>, extra: Record<string, { value: string; secret?: boolean }> = {}): Promise<void> {
  const current = Object.keys(await stack.getAllConfig())
    .filter((key) => key.startsWith("proxmox-hardening:"))
    .map((key) => key.slice("proxmox-hardening:".length));
  for (const key of current) if (!(key in raw) && !(key in extra)) await stack.removeConfig(key);
  const values: Record<string, { value: string; secret?: boolean }> = { ...extra };
  for (const [key, value] of Object.entries(raw)) values[key] = { value: JSON.stringify(value) };
  await stack.setAllConfig(values);
}

// ------------------------------------------------------------------ processes inside a host

const CAPTURE = "/run/prl-ps-capture";

/**
 * Records every process's command line inside the host, 20 times a second,
 * until stopProcessCapture or `seconds` passed (the loop is bounded by time).
 */
export async function startProcessCapture(host: SandboxHost, seconds: number): Promise<void> {
  const loop = `end=$(( $(date +%s) + ${Math.ceil(seconds)} )); while [ -e ${CAPTURE}.on ] && [ $(date +%s) -lt $end ]; do ps -eww -o user=,args= >> ${CAPTURE}.txt; sleep 0.05; done`;
  await run(host, `rm -f ${CAPTURE}.txt; touch ${CAPTURE}.on; setsid sh -c '${loop}' </dev/null >/dev/null 2>&1 &`);
}

/** Stops the capture; returns the distinct command lines seen. */
export async function stopProcessCapture(host: SandboxHost): Promise<string[]> {
  await run(host, `rm -f ${CAPTURE}.on; sleep 0.2`);
  const text = await run(host, `cat ${CAPTURE}.txt 2>/dev/null; rm -f ${CAPTURE}.txt`);
  return [...new Set(text.split("\n").map((line) => line.trim()).filter(Boolean))];
}

/** Runs a shell command inside the host, with a result rather than an exception. */
export async function tryRun(host: SandboxHost, command: string, timeoutMs = 60_000) {
  return hostExec(host, command, { timeoutMs });
}
