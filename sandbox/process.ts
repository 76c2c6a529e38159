/** Small process helpers of the sandbox: run a command bounded in time, wait, run a few at once, a lock for the machine. */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { HOST_PATH } from "./layout";

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal (e.g. on timeout). */
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill the command after this many ms (default 60000). */
  timeoutMs?: number;
}

interface RunOptions extends ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ?? { PATH: HOST_PATH, LANG: "C.UTF-8" },
      cwd: opts.cwd,
    });
    // Strings, not Buffer.concat: @types/node 20.9 and TypeScript 5.9 disagree on Buffer.
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (out += d));
    child.stderr.on("data", (d: string) => (err += d));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout: out, stderr: err, code, signal });
    });
    child.stdin.on("error", () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * bash without rc files. Our stdin is a socket (node's pipes are socketpairs), which makes Debian's
 * bash take itself for an ssh session and source ~/.bashrc even with -c: in a client, which sees the
 * machine's files, that ran the machine's own ~/.bashrc (pyenv init: 6-20 s under load), so probes
 * bounded to 10 s were killed and read as "timeout" (issue 13, the attack suite's reachability).
 */
export const BASH_C = ["/bin/bash", "--norc", "-c"];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn on every item, at most `limit` at once; the first failure stops the queue and is thrown. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const workers = Array.from({ length: Math.max(1, Math.min(limit, queue.length)) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
        queue.length = 0;
      }
    }
  });
  await Promise.all(workers);
  if (errors.length) throw errors[0];
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const MACHINE_LOCK = "/run/lock/proxmox-hardening-sandbox-network";

/** A lock shared by every sandbox on the machine (mkdir is atomic); a stale one (> 60 s) is taken over. */
export async function withMachineLock<T>(fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      fs.mkdirSync(MACHINE_LOCK, { recursive: false });
      break;
    } catch {
      const age = Date.now() - (fs.statSync(MACHINE_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 60_000) fs.rmSync(MACHINE_LOCK, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`${MACHINE_LOCK} is held by another sandbox start`);
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(MACHINE_LOCK, { recursive: true, force: true });
  }
}
