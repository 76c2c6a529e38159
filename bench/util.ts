import { spawn } from "node:child_process";

// Small helpers: progress lines, timing, statistics and child processes with
// a hard time limit (every loop and every process of the benchmark is bounded).

const started = Date.now();

export function log(line: string): void {
  const elapsed = ((Date.now() - started) / 1000).toFixed(0).padStart(5);
  process.stdout.write(`[bench ${elapsed}s] ${line}\n`);
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Runs one step of the benchmark with progress: a line when it starts, one
 * every 15 s while it runs, and one with its duration when it ends.
 */
export async function step<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  log(`${label} ...`);
  const t0 = performance.now();
  const ticker = setInterval(() => log(`  ${label}: still running, ${seconds(performance.now() - t0)}`), 15_000);
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    log(`${label}: ${seconds(ms)}`);
    return { value, ms };
  } catch (error) {
    log(`${label}: FAILED after ${seconds(performance.now() - t0)}`);
    throw error;
  } finally {
    clearInterval(ticker);
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Least-squares slope and intercept of y over x (ms per host, ms at zero hosts). */
export function linearFit(points: readonly { x: number; y: number }[]): { slope: number; intercept: number } | undefined {
  const xs = new Set(points.map((p) => p.x));
  if (xs.size < 2) return undefined;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program (no shell), killing it after timeoutMs. */
export function runProcess(
  command: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 600_000);
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0 });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

export async function mustRun(command: string, args: readonly string[], opts: Parameters<typeof runProcess>[2] = {}): Promise<ProcResult> {
  const result = await runProcess(command, args, opts);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${result.code}:\n${result.stderr.slice(-2000)}${result.stdout.slice(-2000)}`);
  return result;
}
