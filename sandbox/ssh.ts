/** Real SSH sessions to a sandbox host (ssh2), as the program makes them. */
import * as fs from "node:fs";
import { Client } from "ssh2";
import { resolveHost, SandboxHost } from "./inventory";
import { ExecOptions, ExecResult } from "./process";

export interface SshExecOptions extends ExecOptions {
  /** Log in as the sudo user with its password instead of root with the key. */
  asSudoUser?: boolean;
  /** Pin this host key ("ssh-ed25519 AAAA...") instead of the inventory's. */
  hostPublicKey?: string;
  /** Connect to the host's IPv6 address instead of its IPv4 address. */
  ipv6?: boolean;
}

/** Runs a command over real SSH (ssh2, host key pinned to the inventory's). */
export function sshExec(host: SandboxHost | string, command: string, opts: SshExecOptions = {}): Promise<ExecResult> {
  const h = resolveHost(host);
  // Normalised base64 of the pinned key blob.
  const expected = Buffer.from((opts.hostPublicKey ?? h.hostPublicKey).split(/\s+/)[1], "base64").toString("base64");
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const conn = new Client();
    const timer = setTimeout(() => {
      conn.end();
      reject(new Error(`ssh to ${h.name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on("ready", () => {
      conn.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          conn.end();
          reject(err);
          return;
        }
        let out = "";
        let errb = "";
        let code: number | null = null;
        let signal: string | null = null;
        stream.setEncoding("utf8");
        stream.stderr.setEncoding("utf8");
        stream.on("data", (d: string) => (out += d));
        stream.stderr.on("data", (d: string) => (errb += d));
        stream.on("exit", (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        stream.on("close", () => {
          clearTimeout(timer);
          conn.end();
          resolve({ stdout: out, stderr: errb, code, signal });
        });
        if (opts.input !== undefined) stream.end(opts.input);
        else stream.end();
      });
    });
    conn.connect({
      host: opts.ipv6 ? h.address6 : h.address,
      port: h.sshPort,
      username: opts.asSudoUser ? h.sudoUser.name : h.user,
      ...(opts.asSudoUser ? { password: h.sudoUser.password } : { privateKey: fs.readFileSync(h.privateKeyPath) }),
      hostVerifier: (key: Buffer) => key.toString("base64") === expected,
      readyTimeout: Math.min(timeoutMs, 20_000),
    });
  });
}
