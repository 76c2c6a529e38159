import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { CpuSnapshot } from "./cpu";
import { linearFit, median } from "./util";

// Tables for docs/BENCHMARKS.md from the raw measurements: medians over runs,
// ratios against the floor and Ansible, the slope per added host, and the
// targets of issue 6 checked against the numbers.

/** project:<variant> is an experiment; project@<commit> (also with a variant) the project at another commit, in the same runs. */
export type Tool = "project" | "floor" | "ansible" | `project:${string}` | `project@${string}`;

export interface Measurement {
  tool: Tool;
  /** apply | noop | preview | preview-refresh | refresh | destroy */
  op: string;
  hosts: number;
  run: number;
  /** This project: to the exit of the operation's CLI run (from 3 Dec; before, to the Automation API call's return). */
  wallMs: number;
  /** This project: the whole Automation API call, with what it runs after the CLI. */
  apiMs?: number;
  connections: number;
  commands: number;
  /** Logins sshd accepted (auth.log), the cross-check of `connections`. */
  sshdLogins?: number;
  /** Ansible: of the commands, sftp transfers; changed tasks. */
  transfers?: number;
  changed?: number;
  note?: string;
  /** CPU seconds (bench/cpu.ts), from runs that measured it. */
  cpu?: CpuSnapshot;
}

export interface Machine {
  nproc: number;
  memory: string;
  cpu: string;
  kernel: string;
  versions: Record<string, string>;
  loadBefore: string;
  loadAfter?: string;
  tree: string;
  date: string;
}

const OPS: { op: string; label: string }[] = [
  { op: "apply", label: "first apply" },
  { op: "noop", label: "no-op run" },
  { op: "preview", label: "preview" },
  { op: "preview-refresh", label: "preview --refresh" },
  { op: "refresh", label: "refresh" },
  { op: "destroy", label: "destroy" },
];

interface Cell {
  wallMs: number;
  connections: number;
  commands: number;
  runs: number;
  spread: [number, number];
}

function cell(measurements: Measurement[], tool: Tool, op: string, hosts: number): Cell | undefined {
  const list = measurements.filter((m) => m.tool === tool && m.op === op && m.hosts === hosts);
  if (list.length === 0) return undefined;
  const walls = list.map((m) => m.wallMs);
  return {
    wallMs: median(walls),
    connections: median(list.map((m) => m.connections)),
    commands: median(list.map((m) => m.commands)),
    runs: list.length,
    spread: [Math.min(...walls), Math.max(...walls)],
  };
}

const s = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "–" : (ms / 1000).toFixed(1));
const ratio = (a: Cell | undefined, b: Cell | undefined) => (a && b ? `${(a.wallMs / b.wallMs).toFixed(2)}×` : "–");
const counts = (c: Cell | undefined) => (c ? `${c.connections} / ${c.commands}` : "–");
const wall = (c: Cell | undefined) => (c ? `${s(c.wallMs)}${c.runs > 1 ? ` (${s(c.spread[0])}–${s(c.spread[1])})` : ""}` : "–");

export function hostCounts(measurements: Measurement[]): number[] {
  return [...new Set(measurements.map((m) => m.hosts))].sort((a, b) => a - b);
}

export function resultsTable(measurements: Measurement[]): string {
  const lines = [
    "| hosts | operation | runs | this project: s (min–max) | conn / cmds | floor: s | conn / cmds | Ansible: s | conn / cmds | project / floor | project / Ansible |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const hosts of hostCounts(measurements)) {
    for (const { op, label } of OPS) {
      const project = cell(measurements, "project", op, hosts);
      const floor = cell(measurements, "floor", op, hosts);
      const ansible = cell(measurements, "ansible", op, hosts);
      if (!project && !floor && !ansible) continue;
      lines.push(
        `| ${hosts} | ${label} | ${project?.runs ?? floor?.runs ?? ansible?.runs} | ${wall(project)} | ${counts(project)} | ${wall(floor)} | ${counts(floor)} | ${wall(ansible)} | ${counts(ansible)} | ${ratio(project, floor)} | ${ratio(project, ansible)} |`,
      );
    }
  }
  return lines.join("\n");
}

/** Slope (s per added host) and intercept of the median wall time over the host counts. */
export function slopeTable(measurements: Measurement[]): string {
  const lines = ["| tool | operation | s per added host | s at 0 hosts (fit) | points |", "|---|---|---:|---:|---:|"];
  // The compared tools only: experiments are single runs, too noisy for a slope.
  const tools = [...new Set(measurements.map((m) => m.tool))].filter((tool) => !tool.includes(":"));
  for (const tool of tools) {
    for (const { op, label } of OPS) {
      const points = hostCounts(measurements)
        .map((hosts) => ({ x: hosts, c: cell(measurements, tool, op, hosts) }))
        .filter((p): p is { x: number; c: Cell } => !!p.c)
        .map((p) => ({ x: p.x, y: p.c.wallMs }));
      const fit = linearFit(points);
      if (!fit) continue;
      lines.push(`| ${tool} | ${label} | ${(fit.slope / 1000).toFixed(2)} | ${(fit.intercept / 1000).toFixed(1)} | ${points.map((p) => `${p.x}: ${s(p.y)}`).join(", ")} |`);
    }
  }
  return lines.join("\n");
}

/** Variants of the project (experiments) beside the project itself. */
export function experimentsTable(measurements: Measurement[]): string | undefined {
  const variants = [...new Set(measurements.map((m) => m.tool))].filter((tool) => tool.startsWith("project:") || tool.startsWith("project@"));
  if (variants.length === 0) return undefined;
  const lines = ["| hosts | operation | project: s | " + variants.map((v) => `${v}: s (ratio)`).join(" | ") + " |", "|---:|---|---:|" + variants.map(() => "---:").join("|") + "|"];
  for (const hosts of hostCounts(measurements)) {
    for (const { op, label } of OPS) {
      const base = cell(measurements, "project", op, hosts);
      const cells = variants.map((v) => cell(measurements, v as Tool, op, hosts));
      if (cells.every((c) => !c)) continue;
      lines.push(`| ${hosts} | ${label} | ${wall(base)} | ${cells.map((c) => (c ? `${wall(c)} (${ratio(c, base)})` : "–")).join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

/**
 * Median CPU seconds per operation and where they were spent (bench/cpu.ts),
 * for the runs that measured it; the last column is per host, in the hosts.
 */
export function cpuTable(measurements: Measurement[]): string | undefined {
  const measured = measurements.filter((m) => m.cpu);
  if (measured.length === 0) return undefined;
  const lines = [
    "| hosts | tool | operation | runs | local: engine, program, provider / Ansible / ssh | in hosts: sshd and the commands | in hosts: daemons (fail2ban-server...) | total | commands in hosts, per host |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  const tools = [...new Set(measured.map((m) => m.tool))].filter((tool) => !tool.includes(":"));
  for (const hosts of hostCounts(measured)) {
    for (const tool of tools) {
      for (const { op, label } of OPS) {
        const list = measured.filter((m) => m.tool === tool && m.op === op && m.hosts === hosts);
        if (list.length === 0) continue;
        const med = (pick: (cpu: CpuSnapshot) => number) => median(list.map((m) => pick(m.cpu!)));
        const [local, commands, daemons] = [med((c) => c.local), med((c) => c.hostCommands), med((c) => c.hostDaemons)];
        lines.push(`| ${hosts} | ${tool} | ${label} | ${list.length} | ${local.toFixed(1)} | ${commands.toFixed(1)} | ${daemons.toFixed(1)} | ${(local + commands + daemons).toFixed(1)} | ${(commands / hosts).toFixed(2)} |`);
      }
    }
  }
  return lines.join("\n");
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? "not measured" : ok ? "**met**" : "**not met**");

export function targets(measurements: Measurement[]): string {
  const all = hostCounts(measurements);
  if (all.length === 0) return "";
  const largest = all[all.length - 1];
  const smallest = all[0];
  const out: string[] = [];
  const p = (op: string, n = largest) => cell(measurements, "project", op, n);
  const f = cell(measurements, "floor", "apply", largest);
  const a = cell(measurements, "ansible", "apply", largest);
  const an = cell(measurements, "ansible", "noop", largest);
  const apply = p("apply");
  out.push(
    `- First apply on ${largest} host(s) within 2× the floor: ${verdict(apply && f ? apply.wallMs <= 2 * f.wallMs : undefined)} ` +
      `(${s(apply?.wallMs)} s vs floor ${s(f?.wallMs)} s: ${ratio(apply, f)}).`,
  );
  out.push(
    `- First apply on ${largest} host(s) at most a third of Ansible's time: ${verdict(apply && a ? apply.wallMs <= a.wallMs / 3 : undefined)} ` +
      `(${s(apply?.wallMs)} s vs Ansible ${s(a?.wallMs)} s: ${ratio(apply, a)}).`,
  );
  const noopOk = all.map((n) => p("noop", n)).every((c, i) => !c || c.connections <= all[i]);
  out.push(`- No-op up at most one SSH connection per host: ${verdict(all.some((n) => p("noop", n)) ? noopOk : undefined)} (${all.map((n) => `${n} host(s): ${p("noop", n)?.connections ?? "–"}`).join(", ")}).`);
  const noop = p("noop");
  out.push(
    `- No-op up at most a quarter of Ansible's no-op run (${largest} host(s)): ${verdict(noop && an ? noop.wallMs <= an.wallMs / 4 : undefined)} ` +
      `(${s(noop?.wallMs)} s vs ${s(an?.wallMs)} s: ${ratio(noop, an)}).`,
  );
  const previews = all.map((n) => p("preview", n));
  const zero = previews.every((c) => !c || c.connections === 0);
  const pv1 = p("preview", smallest);
  const pvN = p("preview", largest);
  out.push(
    `- Preview opens zero SSH connections: ${verdict(previews.some(Boolean) ? zero : undefined)}; its time grows from ${s(pv1?.wallMs)} s (${smallest} host(s)) to ${s(pvN?.wallMs)} s (${largest} host(s))` +
      (pv1 && pvN && largest > smallest ? `, ${((pvN.wallMs - pv1.wallMs) / (largest - smallest) / 1000).toFixed(2)} s per added host (13 resources per host; see "Where the time goes").` : "."),
  );
  out.push(...againstBaseline(measurements, smallest, largest));
  return out.join("\n");
}

/**
 * The targets of a change measured side by side with the main it started from (a `project@<commit>`
 * tool in the same runs): one host against that commit's preview and Ansible; the largest host
 * count against Ansible, and the CPU our commands use in the hosts against the floor's.
 */
function againstBaseline(measurements: Measurement[], smallest: number, largest: number): string[] {
  const baseline = [...new Set(measurements.map((m) => m.tool))].find((tool): tool is `project@${string}` => tool.startsWith("project@"));
  if (!baseline) return [];
  const within = (value: Cell | undefined, other: Cell | undefined, limit: number) =>
    `${verdict(value && other ? value.wallMs <= limit * other.wallMs : undefined)} (${s(value?.wallMs)} s vs ${s(other?.wallMs)} s: ${ratio(value, other)})`;
  const p = (op: string, n: number) => cell(measurements, "project", op, n);
  const ansible = (op: string, n: number) => cell(measurements, "ansible", op, n);
  const perHost = (tool: Tool) => {
    const list = measurements.filter((m) => m.tool === tool && m.op === "apply" && m.hosts === largest && m.cpu);
    return list.length ? median(list.map((m) => m.cpu!.hostCommands)) / largest : undefined;
  };
  const [ours, floor] = [perHost("project"), perHost("floor")];
  const cpu =
    ours !== undefined && floor !== undefined ? `${verdict(ours <= 1.4 * floor)} (${ours.toFixed(2)} vs ${floor.toFixed(2)} CPU s per host: ${(ours / floor).toFixed(2)}×)` : verdict(undefined);
  return [
    `- Preview on ${smallest} host(s) at most half of ${baseline.slice("project@".length)}'s: ${within(p("preview", smallest), cell(measurements, baseline, "preview", smallest), 0.5)}.`,
    `- First apply on ${smallest} host(s) at most 0.7× Ansible's: ${within(p("apply", smallest), ansible("apply", smallest), 0.7)}.`,
    `- No-op up on ${smallest} host(s) at most 0.5× Ansible's no-op run: ${within(p("noop", smallest), ansible("noop", smallest), 0.5)}.`,
    `- First apply on ${largest} host(s) at most 0.45× Ansible's: ${within(p("apply", largest), ansible("apply", largest), 0.45)}.`,
    `- No-op up on ${largest} host(s) at most 0.1× Ansible's no-op run: ${within(p("noop", largest), ansible("noop", largest), 0.1)}.`,
    `- CPU of our commands in the hosts, first apply on ${largest} host(s), at most 1.4× the floor's: ${cpu}.`,
  ];
}

export function machineTable(machine: Machine): string {
  return [
    `- Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memory} memory, kernel ${machine.kernel}; load average ${machine.loadBefore} at the start${machine.loadAfter ? `, ${machine.loadAfter} at the end` : ""} (the run's own hosts count in it, and so does any other test run on the same cores: the tables give medians and the spread).`,
    `- Versions: ${Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join(", ")}.`,
    `- Measured: ${machine.tree}, ${machine.date}.`,
  ].join("\n");
}

/** Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in the file (appends the block when missing). */
export function replaceSection(file: string, name: string, body: string): void {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const block = `${begin}\n${body.trim()}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text}${text.endsWith("\n") || text === "" ? "" : "\n"}\n${block}\n`;
  writeFileSync(file, next);
}
