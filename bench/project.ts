import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { Inventory } from "../sandbox";
import type { ProgramStack } from "../scripts/program-stack";
import { cpuMeter, CpuSnapshot } from "./cpu";
import { hostInits, sshdLogins } from "./hosts";
import { log, seconds, step } from "./util";

// This project on fresh hosts, through the real engine (Automation API, the
// same ProgramStack the end-to-end tests use): first apply, a no-op up,
// preview, preview --refresh, refresh and destroy, each timed, with the SSH
// connections and commands the providers recorded in the metrics file.

export const PROJECT_OPS = ["apply", "noop", "preview", "preview-refresh", "refresh", "destroy"] as const;
export type ProjectOp = (typeof PROJECT_OPS)[number];

export const OP_LABEL: Record<ProjectOp, string> = {
  apply: "first apply (up)",
  noop: "no-op up",
  preview: "preview",
  "preview-refresh": "preview --refresh",
  refresh: "refresh",
  destroy: "destroy",
};

/** One engine event, stamped when the Automation API handed it to us. */
export interface TimedEvent {
  at: number;
  kind: string;
  urn?: string;
  type?: string;
  op?: string;
}

/** One line of the metrics file (providers/ssh/transport.ts). */
export interface MetricEvent {
  event: "connect" | "command";
  host: string;
  pid: number;
  at: number;
}

export interface OpResult {
  op: ProjectOp;
  startedAt: number;
  /** To the exit of the operation's CLI run: what a user of `pulumi up` (or preview, refresh, destroy) waits for. */
  wallMs: number;
  /** The whole Automation API call: after the CLI, up() runs `pulumi stack output` and `stack history`, refresh and destroy the latter. */
  apiMs: number;
  connections: number;
  commands: number;
  /** Logins sshd accepted during the operation (should equal connections). */
  sshdLogins: number;
  /** What the engine reported, e.g. "create 27" or "same 27". */
  changes: string;
  events: TimedEvent[];
  metrics: MetricEvent[];
  cpu: CpuSnapshot;
}

/** The engine helpers (ProgramStack, sandboxConfig), loaded from the project tree being measured. */
export type ProgramSupport = typeof import("../scripts/program-stack");

/**
 * Loads the engine helpers of `root`: this work tree, or a snapshot of a commit (other
 * engineers edit this tree while the benchmark runs, so a half-made edit elsewhere would fail or
 * skew the measurement). Earlier commits kept them in test/support/program.ts.
 */
export function loadProgramSupport(root: string): ProgramSupport {
  mkdirSync(join(root, ".pulumi-state"), { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const current = join(root, "scripts", "program-stack.ts");
  return require(existsSync(current) ? current : join(root, "test", "support", "program.ts")) as ProgramSupport;
}

export interface ProjectOptions {
  /** The project's test helpers (ProgramStack, sandboxConfig) of the tree being measured. */
  support: ProgramSupport;
  /** Stack name; unique per run (Pulumi.<name>.yaml is git-ignored for test-* names). */
  name: string;
  /** --parallel for every operation (default: the engine's, 4 x GOMAXPROCS). */
  parallel?: number;
  /** Extra environment for the CLI, the program and the provider (experiments). */
  env?: Record<string, string>;
  /** Called with each operation's result as soon as it is measured (so a later failure keeps it). */
  onResult?: (result: OpResult) => void;
  /** Called after each operation, e.g. to read the hosts' end state or profiling logs. */
  afterOp?: (op: ProjectOp, program: ProgramStack) => Promise<void>;
}

function changeText(changes: Record<string, number> | undefined): string {
  return Object.entries(changes ?? {})
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
}

function readMetrics(program: ProgramStack): MetricEvent[] {
  if (!existsSync(program.metricsFile)) return [];
  return readFileSync(program.metricsFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as MetricEvent);
}

/**
 * Calls `onCliExit` when the stack's first pulumi command of an operation has exited. The
 * Automation API has no hook there, so this wraps its (private) runPulumiCmd; `stack output` and
 * `stack history`, which it runs next, are the API's own cost, not the operation's.
 */
export function onFirstCliExit(stack: object, onCliExit: () => void): () => void {
  const target = stack as { runPulumiCmd: (...args: unknown[]) => Promise<unknown> };
  const original = target.runPulumiCmd;
  if (typeof original !== "function") throw new Error("the Automation API's Stack has no runPulumiCmd: the CLI's exit cannot be timed");
  let exited = false;
  target.runPulumiCmd = async function (this: unknown, ...args: unknown[]) {
    try {
      return await original.apply(this, args);
    } finally {
      if (!exited) onCliExit();
      exited = true;
    }
  };
  return () => {
    target.runPulumiCmd = original;
  };
}

export async function runProject(inventory: Inventory, opts: ProjectOptions): Promise<OpResult[]> {
  const hosts = inventory.hosts;
  const { value: program } = await step(`project: stack ${opts.name} (create, config)`, () =>
    opts.support.ProgramStack.create(opts.name, opts.support.sandboxConfig(hosts.map((host) => ({ host })))),
  );
  for (const [key, value] of Object.entries(opts.env ?? {})) program.stack.workspace.envVars[key] = value;
  const results: OpResult[] = [];
  const inits = hostInits(inventory);
  try {
    for (const op of PROJECT_OPS) {
      const events: TimedEvent[] = [];
      const onEvent = (event: EngineEvent) => {
        const at = Date.now();
        const [kind] = Object.keys(event).filter((key) => key !== "sequence" && key !== "timestamp");
        const metadata = event.resourcePreEvent?.metadata ?? event.resOutputsEvent?.metadata ?? event.resOpFailedEvent?.metadata;
        events.push({ at, kind, urn: metadata?.urn, type: metadata?.type, op: metadata?.op });
      };
      const common = { onEvent, ...(opts.parallel ? { parallel: opts.parallel } : {}) };
      const loginsBefore = await sshdLogins(inventory);
      program.sshActivity(); // start from an empty metrics file
      const cpuSince = cpuMeter(inits);
      const startedAt = Date.now();
      const t0 = performance.now();
      let cliExit: { wallMs: number; cpu: CpuSnapshot } | undefined;
      const unwrap = onFirstCliExit(program.stack, () => (cliExit = { wallMs: performance.now() - t0, cpu: cpuSince() }));
      let changes: string;
      switch (op) {
        case "apply":
        case "noop": {
          const result = await program.stack.up(common);
          if (result.summary.result !== "succeeded") throw new Error(`${op}: up ${result.summary.result}`);
          changes = changeText(result.summary.resourceChanges);
          if (op === "noop" && Object.keys(result.summary.resourceChanges ?? {}).some((kind) => kind !== "same")) throw new Error(`no-op up changed something: ${changes}`);
          break;
        }
        case "preview":
        case "preview-refresh": {
          const result = await program.stack.preview({ ...common, refresh: op === "preview-refresh" });
          changes = changeText(result.changeSummary);
          if (Object.keys(result.changeSummary).some((kind) => !["same", "refresh", "read"].includes(kind))) throw new Error(`${op} on hardened hosts wants changes: ${changes}`);
          break;
        }
        case "refresh": {
          const result = await program.stack.refresh(common);
          if (result.summary.result !== "succeeded") throw new Error(`refresh ${result.summary.result}`);
          changes = changeText(result.summary.resourceChanges);
          break;
        }
        case "destroy": {
          const result = await program.stack.destroy(common);
          if (result.summary.result !== "succeeded") throw new Error(`destroy ${result.summary.result}`);
          changes = changeText(result.summary.resourceChanges);
          break;
        }
      }
      unwrap();
      const apiMs = performance.now() - t0;
      const { wallMs, cpu } = cliExit ?? { wallMs: apiMs, cpu: cpuSince() };
      const metrics = readMetrics(program);
      const activity = program.sshActivity();
      const logins = (await sshdLogins(inventory)) - loginsBefore;
      const result: OpResult = { op, startedAt, wallMs, apiMs, ...activity, sshdLogins: logins, changes, events, metrics, cpu };
      results.push(result);
      opts.onResult?.(result);
      await opts.afterOp?.(op, program);
      log(`project ${OP_LABEL[op]} on ${hosts.length} host(s): ${seconds(wallMs)}, ${activity.connections} connections (sshd saw ${logins}), ${activity.commands} commands [${changes}]`);
    }
  } finally {
    await step(`project: remove stack ${opts.name}`, async () => {
      await program.remove();
      // After a failed operation the stack may still hold resources of hosts that are about to
      // go: drop it without touching them (ProgramStack.forget, where the tree has it).
      const forget = (program as { forget?: () => Promise<void> }).forget;
      if (forget) await forget.call(program).catch(() => undefined);
    });
  }
  return results;
}
