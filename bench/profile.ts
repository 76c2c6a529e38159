import { existsSync, readFileSync } from "node:fs";
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
  /** To the exit of the operation's CLI run. */
  wallMs: number;
  /** The whole call through the Automation API (the CLI, then `stack output` and `stack history` for up); absent in older results. */
  apiMs?: number;
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
    apiMs: result.apiMs,
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

// Scripts that join two steps (ssh/before.ts, ssh/files.ts) are named by the step that costs.
const CHANGE_AFTER_RECORD = "echo '=== proxmox-hardening change'";
const FACTS_BEFORE_FILES = "echo '=== proxmox-hardening facts end'";

/** What a remote script does, from its text (the providers' scripts are recognisable by their commands). */
export function categoryOf(script: string): string {
  if (script.includes(CHANGE_AFTER_RECORD)) return `${categoryOf(script.slice(script.indexOf(CHANGE_AFTER_RECORD) + CHANGE_AFTER_RECORD.length))}, after its record`;
  if (script.includes(FACTS_BEFORE_FILES)) return `${categoryOf(script.slice(0, script.indexOf(FACTS_BEFORE_FILES)))} + read file`;
  if (/=== proxmox-hardening record elsewhere/.test(script)) return "record what was before";
  if (/'fail2ban-test\t/.test(script)) return "preflight (facts, with fail2ban-client -t)";
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
  /** CPU the scripts used inside the host, per host (median over hosts; absent for older logs). */
  cpuPerHostMs?: number;
  categories: { category: string; count: number; totalMs: number; medianMs: number; cpuMs?: number }[];
}

/** CPU of the scripts together, or undefined when any of them was logged without it. */
const cpuOf = (list: HostCommand[]) =>
  list.every((c) => c.cpuMs !== undefined && Number.isFinite(c.cpuMs)) ? list.reduce((sum, c) => sum + c.cpuMs!, 0) : undefined;

export function remoteProfile(commands: HostCommand[]): RemoteProfile {
  const byHost = new Map<string, HostCommand[]>();
  for (const command of commands) {
    if (!byHost.has(command.host)) byHost.set(command.host, []);
    byHost.get(command.host)!.push(command);
  }
  const busy: number[] = [];
  const span: number[] = [];
  const lockWait: number[] = [];
  const cpu: number[] = [];
  for (const list of byHost.values()) {
    const hostCpu = cpuOf(list);
    if (hostCpu !== undefined) cpu.push(hostCpu);
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
  const byCategory = new Map<string, HostCommand[]>();
  for (const command of commands) {
    const category = categoryOf(command.script);
    if (!byCategory.has(category)) byCategory.set(category, []);
    byCategory.get(category)!.push(command);
  }
  return {
    hosts: byHost.size,
    commands: commands.length,
    busyPerHostMs: median(busy),
    spanPerHostMs: median(span),
    lockWaitPerHostMs: median(lockWait),
    cpuPerHostMs: cpu.length === byHost.size && cpu.length ? median(cpu) : undefined,
    categories: [...byCategory.entries()]
      .map(([category, list]) => {
        const walls = list.map((c) => c.end - c.start);
        return { category, count: list.length, totalMs: walls.reduce((a, b) => a + b, 0), medianMs: median(walls), cpuMs: cpuOf(list) };
      })
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
  /** What the provider process adds to the SDK it has loaded: tsx, then providers/registry as the stored shim requires it. */
  providersAfterSdkMs?: number;
  pulumiVersionMs: number;
  opensshSessionMs?: number;
}

/** Small fixed costs, each the median of 5 runs. */
export async function microMeasures(root: string, pulumiBin: string, ssh?: { args: string[]; target: string }): Promise<MicroMeasures> {
  const medianOf5 = async (measure: () => Promise<number>) => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) runs.push(await measure());
    return median(runs);
  };
  const timeIt = (command: string, args: string[], cwd = root) =>
    medianOf5(async () => {
      const result = await runProcess(command, args, { cwd, timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
      return result.ms;
    });
  return {
    nodeStartMs: await timeIt(process.execPath, ["-e", "0"]),
    // What the provider process does before its first SSH step: tsx, then the registry with every provider, zod and ssh2.
    tsxProvidersLoadMs: await timeIt(process.execPath, ["--import", "tsx", "-e", `require(${JSON.stringify(join(root, "providers", "registry.ts"))})`]),
    providersAfterSdkMs: await medianOf5(async () => {
      const script = `require("@pulumi/pulumi/runtime"); const t = performance.now(); require("tsx/cjs"); require(${JSON.stringify(join(root, "providers", "registry"))}); console.log(performance.now() - t)`;
      const result = await runProcess(process.execPath, ["-e", script], { cwd: root, timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`providers after the SDK: ${result.stderr}`);
      return Number(result.stdout.trim());
    }),
    pulumiVersionMs: await timeIt(pulumiBin, ["version"]),
    opensshSessionMs: ssh ? await timeIt("ssh", [...ssh.args, ssh.target, "true"]) : undefined,
  };
}

export type HostCommandsByOp = Partial<Record<ProjectOp, HostCommand[]>>;

/** One line of bench/stamp.js: a Node process the CLI started reaching a point (ms since the epoch). */
export interface ProcessStamp {
  pid: number;
  role: "program" | "provider" | "eval" | "other";
  mark: "start" | "program-load" | "program-loaded" | "providers-load" | "providers-loaded" | "listening" | "exit";
  at: number;
  /** CPU ms the process had used at that point (absent in older runs). */
  cpu?: number;
}

/**
 * The fixed cost of one operation, split (issue 18 point 4), in ms from the call: when each
 * process started and reached each point. CLI and engine: the call to the program's process
 * start (for refresh and destroy, which run no program, to the provider's). Program: Node, the
 * SDK, the TypeScript compiler and ts-node until index.ts is required, then our modules (the
 * resources are registered when index.ts has loaded). Provider: the plugin (a shell script that
 * runs `node -e require.resolve` first) to the provider listening (Node and the SDK), then our
 * providers, loaded at the first call that needs them.
 */
export interface FixedCost {
  programStartMs?: number;
  programEntryMs?: number;
  programLoadedMs?: number;
  providerSpawnMs?: number;
  providerListeningMs?: number;
  providersLoadMs?: number;
  providersLoadedMs?: number;
  firstHostResourceMs?: number;
  /** CPU ms of the program's process until index.ts is required, then for loading it (our program). */
  programSdkCpuMs?: number;
  programOwnCpuMs?: number;
  /** CPU ms of the provider process until it listens, then for loading our providers. */
  providerSdkCpuMs?: number;
  providersOwnCpuMs?: number;
}

export function fixedCostOf(startedAt: number, stamps: readonly ProcessStamp[], phases: Phases): FixedCost {
  const first = (role: ProcessStamp["role"] | ProcessStamp["role"][], mark: ProcessStamp["mark"]) => {
    const roles = Array.isArray(role) ? role : [role];
    const times = stamps.filter((s) => roles.includes(s.role) && s.mark === mark && s.at >= startedAt - 1000).map((s) => s.at - startedAt);
    return times.length ? Math.min(...times) : undefined;
  };
  const stampOf = (role: ProcessStamp["role"], mark: ProcessStamp["mark"]) => stamps.find((s) => s.role === role && s.mark === mark && s.at >= startedAt - 1000);
  const cpuAt = (role: ProcessStamp["role"], mark: ProcessStamp["mark"]) => stampOf(role, mark)?.cpu;
  const cpuBetween = (role: ProcessStamp["role"], from: ProcessStamp["mark"], to: ProcessStamp["mark"]) => {
    const [a, b] = [cpuAt(role, from), cpuAt(role, to)];
    return a === undefined || b === undefined ? undefined : b - a;
  };
  const providerStart = first("provider", "start");
  // The plugin's `node -e require.resolve(...)` right before the provider: the earliest such process just before it.
  const resolves = stamps.filter((s) => s.role === "eval" && s.mark === "start" && providerStart !== undefined && s.at - startedAt <= providerStart).map((s) => s.at - startedAt);
  return {
    programStartMs: first("program", "start"),
    programEntryMs: first("program", "program-load"),
    programLoadedMs: first("program", "program-loaded"),
    providerSpawnMs: resolves.length ? Math.max(...resolves) : providerStart,
    providerListeningMs: first("provider", "listening"),
    providersLoadMs: first("provider", "providers-load"),
    providersLoadedMs: first("provider", "providers-loaded"),
    firstHostResourceMs: phases.firstHostResourceMs,
    programSdkCpuMs: cpuAt("program", "program-load"),
    programOwnCpuMs: cpuBetween("program", "program-load", "program-loaded"),
    providerSdkCpuMs: cpuAt("provider", "listening"),
    providersOwnCpuMs: cpuBetween("provider", "providers-load", "providers-loaded"),
  };
}

export function readStamps(file: string): ProcessStamp[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as ProcessStamp);
}
