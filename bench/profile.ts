import { join } from "node:path";
import { HostCommand } from "./hosts";
import { OpResult, ProjectOp } from "./project";
import { median, runProcess } from "./util";

// Where the time of one operation goes, from three clocks on the same machine:
// the engine's events (stamped on arrival), the providers' metrics file (SSH
// connect and command start) and, in the profile pass, each remote script's
// start and end inside the host (bench/hosts.ts PROFILE_HOOK).

export interface Phases {
  /** Operation start to the engine's first event (CLI start, backend, plugins). */
  firstEventMs?: number;
  /** To the first resource step (the stack itself: the engine is up). */
  firstResourceMs?: number;
  /** To the first step of a hardening resource: Node started, ts-node transpiled index.ts, the program registered it. */
  firstHostResourceMs?: number;
  /** To the last step of a hardening resource that started (the program has registered everything by then). */
  lastHostResourceStartMs?: number;
  /** To the first SSH connection of the providers. */
  firstConnectMs?: number;
  /** To the last SSH connection. */
  lastConnectMs?: number;
  /** To the last resource step that finished. */
  lastResourceMs?: number;
  /** To the summary event (the engine is done). */
  summaryMs?: number;
  /** The whole call through the Automation API (CLI exit, then `stack output` and `stack history` for up). */
  wallMs: number;
}

export function phasesOf(result: OpResult): Phases {
  const t0 = result.startedAt;
  const rel = (at: number | undefined) => (at === undefined ? undefined : at - t0);
  const events = result.events;
  const steps = events.filter((e) => e.kind === "resourcePreEvent");
  const outputs = events.filter((e) => e.kind === "resOutputsEvent");
  const hostSteps = steps.filter((e) => e.type?.startsWith("pulumi-nodejs:dynamic"));
  const connects = result.metrics.filter((m) => m.event === "connect").map((m) => m.at);
  return {
    firstEventMs: rel(events[0]?.at),
    firstResourceMs: rel(steps[0]?.at),
    firstHostResourceMs: rel(hostSteps[0]?.at),
    lastHostResourceStartMs: rel(hostSteps[hostSteps.length - 1]?.at),
    firstConnectMs: rel(connects.length ? Math.min(...connects) : undefined),
    lastConnectMs: rel(connects.length ? Math.max(...connects) : undefined),
    lastResourceMs: rel(outputs.length ? outputs[outputs.length - 1].at : undefined),
    summaryMs: rel(events.find((e) => e.kind === "summaryEvent")?.at),
    wallMs: result.wallMs,
  };
}

/** Resource kind from a URN: the name after the host prefix, e.g. "ufw-defaults", "fail2ban-jail-sshd". */
function kindOfUrn(urn: string): string {
  const name = urn.split("::").pop() ?? urn;
  return name.replace(/^pve\d+-/, "").replace(/^ufw-allow.*$/, "ufw-rule");
}

/** Per resource kind: median and max of resourcePre -> resOutputs, i.e. what the engine saw a step take. */
export function stepDurations(result: OpResult): { kind: string; count: number; medianMs: number; maxMs: number }[] {
  const started = new Map<string, number>();
  const byKind = new Map<string, number[]>();
  for (const event of result.events) {
    if (!event.urn || !event.type?.startsWith("pulumi-nodejs:dynamic")) continue;
    if (event.kind === "resourcePreEvent") started.set(event.urn, event.at);
    else if (event.kind === "resOutputsEvent" && started.has(event.urn)) {
      const kind = kindOfUrn(event.urn);
      if (!byKind.has(kind)) byKind.set(kind, []);
      byKind.get(kind)!.push(event.at - started.get(event.urn)!);
    }
  }
  return [...byKind.entries()]
    .map(([kind, values]) => ({ kind, count: values.length, medianMs: median(values), maxMs: Math.max(...values) }))
    .sort((a, b) => b.medianMs - a.medianMs);
}

/** What a remote script does, from its text (the providers' scripts are recognisable by their commands). */
export function categoryOf(script: string): string {
  if (/fail2ban-regex/.test(script)) return "fail2ban-regex (filter samples)";
  if (/all_running\(\)/.test(script)) return "fail2ban -t + reload + wait for jails";
  if (/cat > "\$work\/new"/.test(script)) return "write file + fail2ban-client -t";
  if (/echo unchanged/.test(script)) return /fail2ban-client reload/.test(script) ? "restore file if changed (+ reload)" : "restore file if changed";
  if (/fail2ban-client (reload|stop)/.test(script)) return "fail2ban -t + reload (or stop)";
  if (/fail2ban-client (ping|status)/.test(script)) return "fail2ban-client ping/status";
  if (/ufw.*--force.*enable|'--force' 'enable'|ufw --force enable/.test(script)) return "ufw --force enable";
  if (/(^|[ '])ufw'? '?(allow|deny|reject|limit|delete|default|logging|disable)/m.test(script)) return "ufw rule/default change";
  if (/user6?\.rules/.test(script) && /tail|==>/.test(script)) return "read ufw state files";
  if (/=== proxmox-hardening file/.test(script)) return "read files (snapshot)";
  if (/mv -f "\$tmp"|rm -f/.test(script)) return "restore file";
  if (/pvesh'? '?set/.test(script)) return "pvesh set";
  if (/pvesh/.test(script)) return "pvesh get";
  if (/dpkg-query/.test(script)) return "dpkg-query";
  if (/systemd\.journal|logpath/.test(script)) return "backend facts";
  return `other: ${script.split("\n")[0].replace(/[^\x20-\x7e]/g, "?").slice(0, 50)}`;
}

export interface RemoteProfile {
  hosts: number;
  commands: number;
  /** Sum over commands of their time inside the host, per host (median over hosts). */
  busyPerHostMs: number;
  /** First command start to last command end, per host (median over hosts). */
  spanPerHostMs: number;
  /** Time scripts spent waiting for the host lock (lock taken while another lock holder ran), per host (median). */
  lockWaitPerHostMs: number;
  categories: { category: string; count: number; totalMs: number; medianMs: number }[];
}

export function remoteProfile(commands: HostCommand[]): RemoteProfile {
  const byHost = new Map<string, HostCommand[]>();
  for (const command of commands) {
    if (!byHost.has(command.host)) byHost.set(command.host, []);
    byHost.get(command.host)!.push(command);
  }
  const busy: number[] = [];
  const span: number[] = [];
  const lockWait: number[] = [];
  for (const list of byHost.values()) {
    list.sort((a, b) => a.start - b.start);
    busy.push(list.reduce((sum, c) => sum + (c.end - c.start), 0));
    span.push(Math.max(...list.map((c) => c.end)) - list[0].start);
    // Lock holders run one after the other: a script that started while another
    // held the lock waited at least until that one ended.
    let wait = 0;
    let lockFreeAt = 0;
    for (const command of list.filter((c) => /flock -w/.test(c.script))) {
      if (command.start < lockFreeAt) wait += Math.min(lockFreeAt, command.end) - command.start;
      lockFreeAt = Math.max(lockFreeAt, command.end);
    }
    lockWait.push(wait);
  }
  const byCategory = new Map<string, number[]>();
  for (const command of commands) {
    const category = categoryOf(command.script);
    if (!byCategory.has(category)) byCategory.set(category, []);
    byCategory.get(category)!.push(command.end - command.start);
  }
  return {
    hosts: byHost.size,
    commands: commands.length,
    busyPerHostMs: median(busy),
    spanPerHostMs: median(span),
    lockWaitPerHostMs: median(lockWait),
    categories: [...byCategory.entries()]
      .map(([category, values]) => ({ category, count: values.length, totalMs: values.reduce((a, b) => a + b, 0), medianMs: median(values) }))
      .sort((a, b) => b.totalMs - a.totalMs),
  };
}

/**
 * Client to host latency of a command: the providers record a command just
 * before opening its channel; the hook stamps the script's start inside the
 * host. Paired per host in order (median over commands).
 */
export function channelLatencyMs(result: OpResult, commands: HostCommand[]): number | undefined {
  const gaps: number[] = [];
  const hosts = new Set(commands.map((c) => c.host));
  for (const host of hosts) {
    const client = result.metrics.filter((m) => m.event === "command" && m.host === host).map((m) => m.at).sort((a, b) => a - b);
    const remote = commands.filter((c) => c.host === host).map((c) => c.start).sort((a, b) => a - b);
    if (client.length !== remote.length) continue;
    client.forEach((at, i) => gaps.push(remote[i] - at));
  }
  return gaps.length ? median(gaps) : undefined;
}

export interface MicroMeasures {
  nodeStartMs: number;
  tsxProvidersLoadMs: number;
  pulumiVersionMs: number;
  opensshSessionMs?: number;
}

/** Small fixed costs, each the median of 5 runs. */
export async function microMeasures(root: string, pulumiBin: string, ssh?: { args: string[]; target: string }): Promise<MicroMeasures> {
  const timeIt = async (command: string, args: string[], cwd = root) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await runProcess(command, args, { cwd, timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
      runs.push(result.ms);
    }
    return median(runs);
  };
  return {
    nodeStartMs: await timeIt(process.execPath, ["-e", "0"]),
    // What the provider process does before its first SSH step: tsx, then the registry with every provider, zod and ssh2.
    tsxProvidersLoadMs: await timeIt(process.execPath, ["--import", "tsx", "-e", `require(${JSON.stringify(join(root, "providers", "registry.ts"))})`]),
    pulumiVersionMs: await timeIt(pulumiBin, ["version"]),
    opensshSessionMs: ssh ? await timeIt("ssh", [...ssh.args, ssh.target, "true"]) : undefined,
  };
}

export type HostCommandsByOp = Partial<Record<ProjectOp, HostCommand[]>>;
