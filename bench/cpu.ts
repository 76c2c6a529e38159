import { readdirSync, readFileSync } from "node:fs";

// CPU seconds an operation cost, wherever it ran: on this side (the engine,
// the language host, our program and provider, or Ansible and its forks, or
// the floor's ssh clients: all children this process waits for) and inside
// the sandbox hosts (sshd and every command it ran; the daemons, e.g.
// fail2ban-server reloading its jails). On 2 shared cores the wall time of
// 20 hosts is mostly CPU queueing: this says whose CPU it is.

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in clock ticks. */
  own: number;
  /** cutime + cstime: children this process has waited for, with their own reaped children. */
  reaped: number;
}

/** One /proc/<pid>/stat line. The command name is in parentheses and may hold spaces or parentheses. */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  const fields = line.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const field = (n: number) => Number(fields[n - 3]);
  return { pid: Number(line.slice(0, open)), ppid: field(4), comm: line.slice(open + 1, close), own: field(14) + field(15), reaped: field(16) + field(17) };
}

/**
 * Ticks of `root` and everything under it: each live process's own time and
 * what it reaped (a process that ended was reaped by its parent in the tree).
 */
export function subtreeTicks(stats: readonly ProcStat[], root: number): number {
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  let ticks = 0;
  const pending = [root];
  for (let seen = 0; pending.length > 0 && seen < stats.length; seen++) {
    const pid = pending.pop()!;
    const stat = byPid.get(pid);
    if (stat) ticks += stat.own + stat.reaped;
    for (const child of children.get(pid) ?? []) pending.push(child.pid);
  }
  return ticks;
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      stats.push(parseProcStat(readFileSync(`/proc/${entry}/stat`, "utf8")));
    } catch {
      // The process ended while we listed /proc.
    }
  }
  return stats;
}

export interface CpuSnapshot {
  /** This process's waited-for children (the tool under measurement). */
  local: number;
  /** Under each host's sshd: the commands the tool ran. */
  hostCommands: number;
  /** The rest of each host: fail2ban-server, rsyslog, and what the host's init reaped. */
  hostDaemons: number;
}

/** Ticks now; `hostInits` are the sandbox hosts' init processes. */
export function cpuSnapshot(hostInits: readonly number[]): CpuSnapshot {
  const stats = allStats();
  const self = stats.find((stat) => stat.pid === process.pid);
  let hostCommands = 0;
  let hostDaemons = 0;
  for (const init of hostInits) {
    const all = subtreeTicks(stats, init);
    const sshd = stats.filter((stat) => stat.ppid === init && stat.comm === "sshd").reduce((sum, stat) => sum + subtreeTicks(stats, stat.pid), 0);
    hostCommands += sshd;
    hostDaemons += all - sshd;
  }
  return { local: self?.reaped ?? 0, hostCommands, hostDaemons };
}

/** Starts counting: the function returned gives the CPU seconds used since. */
export function cpuMeter(hostInits: readonly number[]): () => CpuSnapshot {
  const before = cpuSnapshot(hostInits);
  return () => cpuSeconds(before, cpuSnapshot(hostInits));
}

/** CPU seconds between two snapshots (stat counts in USER_HZ ticks: 100 per second on Linux). */
export function cpuSeconds(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond = 100): CpuSnapshot {
  return {
    local: (after.local - before.local) / ticksPerSecond,
    hostCommands: (after.hostCommands - before.hostCommands) / ticksPerSecond,
    hostDaemons: (after.hostDaemons - before.hostDaemons) / ticksPerSecond,
  };
}
