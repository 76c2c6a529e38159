import { appendFileSync, readFileSync } from "node:fs";
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { HardeningError, redact, UnreachableNodeError } from "../core/errors";
import { hostLog } from "../core/log";
import { Credentials, HostConnection } from "./schema";
import { fingerprintOf, hostKeyMatches, keyTypeOf, pinnedKeyAlgorithms } from "./hostkey";
import { shellQuote } from "./quote";

// One SSH connection per host, shared by every resource of a deployment: the
// engine calls provider methods for many resources at once in one process,
// and ufw's `limit` rule allows only 6 new connections in 30 s per source.

export interface RemoteResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** Data for the command's standard input (e.g. a file's new content). */
  stdin?: string;
  /** What this step does, for messages and progress logs. */
  description?: string;
  /**
   * Hands the script the connection as the host sees it ($SSH_CONNECTION: this program's
   * address after any NAT, and the host's it reached) as $1. The login shell expands it,
   * since sudo clears the environment.
   */
  passSshConnection?: boolean;
}

/**
 * How much SSH work a deployment really did. The provider runs in its own
 * process, so tests and the benchmark read these events from the file named
 * by PROXMOX_HARDENING_METRICS (one JSON line per event, never a secret).
 */
function recordMetric(event: "connect" | "command" | "connect-failed", host: string, extra: Record<string, number> = {}): void {
  const file = process.env.PROXMOX_HARDENING_METRICS;
  if (file) appendFileSync(file, `${JSON.stringify({ event, host, pid: process.pid, at: Date.now(), ...extra })}\n`);
}

const MAX_CHANNELS_PER_HOST = 6; // below OpenSSH's default MaxSessions of 10
/** What sudo says when it will not run a command (wrong or missing password, not a sudoer). */
const SUDO_REFUSED = /^sudo: (\d+ incorrect password attempts?|a password is required|.* is not in the sudoers file|no password was provided|a terminal is required)/m;
const CONNECT_ATTEMPTS = 3;
/** How ssh2 reports sshd refusing a channel (MaxSessions reached). */
const CHANNEL_REFUSED = /Channel open failure/i;
const CHANNEL_OPEN_ATTEMPTS = 5; // 0.2 + 0.4 + 0.8 + 1.6 s of backoff at most

type CredentialLookup = (hostName: string) => Credentials;

/**
 * The SSH sessions of a provider process, made with the stack's credentials: one connection
 * per host, shared by every resource of a deployment (the engine calls provider methods for
 * many resources at once in one process, and ufw's `limit` rule allows only 6 new connections
 * in 30 s per source). Messages it makes never carry one of the credentials.
 */
export class HostSessions {
  private readonly sessions = new Map<string, Promise<HostSession>>();
  private readonly secrets: string[];

  constructor(
    private readonly lookup: CredentialLookup,
    secrets: readonly string[],
  ) {
    this.secrets = secrets.filter((secret) => secret.length > 0);
  }

  /** Removes every credential from a text meant for a person or a log. */
  redact(text: string): string {
    return redact(text, this.secrets);
  }

  /** The shared session for a host, opened on first use. */
  sessionFor(conn: HostConnection): Promise<HostSession> {
    const key = `${conn.user}@${conn.address}:${conn.port}#${conn.hostKey}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = HostSession.open(conn, this.lookup(conn.name), (text) => this.redact(text));
      this.sessions.set(key, session);
      // A failed opening (after its retries) stands for the rest of this deployment: every
      // other resource of the host gets the same error at once instead of connecting again,
      // so a wrong host key is presented to only one handshake and a host behind ufw's
      // `limit` (6 new connections in 30 s) is not pushed over it by retries.
      session.catch(() => undefined);
    }
    return session;
  }

  /** Closes every open connection (end of a test, or of a CLI run). */
  async closeAll(): Promise<void> {
    const open = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(open.map((s) => s.then((session) => session.close(), () => undefined)));
  }
}

function connectConfig(conn: HostConnection, creds: Credentials, onKey: (key: Buffer) => boolean): ConnectConfig {
  const config: ConnectConfig = {
    host: conn.address,
    port: conn.port,
    username: conn.user,
    readyTimeout: conn.connectTimeoutSeconds * 1000,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    hostVerifier: onKey,
    ...pinnedKeyAlgorithms(conn.hostKey),
  };
  if (creds.privateKey) config.privateKey = creds.privateKey;
  else if (creds.privateKeyPath) config.privateKey = readFileSync(creds.privateKeyPath);
  if (creds.passphrase) config.passphrase = creds.passphrase;
  if (creds.password) config.password = creds.password;
  if (creds.agent || (!config.privateKey && !config.password)) config.agent = process.env.SSH_AUTH_SOCK;
  return config;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class HostSession {
  private active = 0;
  private waiting: (() => void)[] = [];
  /** Whether sudo asks this user for a password, asked once per connection (sudoAsksPassword). */
  private sudoAsks: Promise<boolean> | undefined;

  private constructor(
    readonly conn: HostConnection,
    private readonly client: Client,
    private readonly sudoPassword: string | undefined,
    private readonly redactSecrets: (text: string) => string,
  ) {}

  static async open(conn: HostConnection, creds: Credentials, redactSecrets: (text: string) => string): Promise<HostSession> {
    const context = { host: conn.name, resource: `ssh ${conn.user}@${conn.address}:${conn.port}` };
    // connectTimeoutSeconds bounds the whole opening, retries included.
    const started = Date.now();
    const deadline = started + conn.connectTimeoutSeconds * 1000;
    let lastError: unknown;
    let attempts = 0;
    for (let attempt = 1; attempt <= CONNECT_ATTEMPTS; attempt++) {
      attempts = attempt;
      let presented: Buffer | undefined;
      try {
        const client = await new Promise<Client>((resolve, reject) => {
          // ssh2 is loaded at the first connection, not with the providers: preview and the program
          // never connect, and loading it takes 0.6-1.3 s on a busy 2-core machine.
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const client = new (require("ssh2") as typeof import("ssh2")).Client();
          client.once("ready", () => resolve(client));
          client.once("error", reject);
          client.connect({
            ...connectConfig(conn, creds, (key) => {
              presented = key;
              return hostKeyMatches(conn.hostKey, key);
            }),
            readyTimeout: Math.max(500, deadline - Date.now()),
          });
        });
        // A connection error later (a drop, a keepalive timeout) fails the command it cuts, which
        // says so; an error event without a listener would end the whole provider process.
        client.on("error", (error: Error) => hostLog.debug(conn.name, `SSH connection error: ${redactSecrets(error.message)}`));
        recordMetric("connect", conn.name);
        hostLog.debug(conn.name, `connected to ${conn.user}@${conn.address}:${conn.port}, host key ${fingerprintOf(presented!)}`);
        return new HostSession(conn, client, creds.sudoPassword ?? creds.password, redactSecrets);
      } catch (error) {
        lastError = error;
        if (presented && !hostKeyMatches(conn.hostKey, presented)) {
          throw new HardeningError(
            { ...context, field: "hostKey" },
            `the host presented key ${fingerprintOf(presented)}, which is not the pinned key; no command was run (the host's ${keyTypeOf(presented)} key)`,
            `if the host was reinstalled, check the new key out of band (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on its console), run \`npm run retire -- ${conn.name}\` (it takes the old installation's resources out of the state, so nothing is rolled back onto the new one) and update hostKey in the stack config; otherwise treat this as a possible man-in-the-middle`,
          );
        }
        const message = error instanceof Error ? error.message : String(error);
        if (/authentication methods failed/i.test(message)) {
          throw new HardeningError(
            { ...context, field: "credentials" },
            `SSH authentication failed for user ${conn.user}`,
            "set sshPrivateKey (`pulumi config set --secret sshPrivateKey < key`), sshPrivateKeyPath or sshPassword for this stack, and check the key is in the user's authorized_keys",
          );
        }
        const pause = 500 * attempt;
        if (attempt === CONNECT_ATTEMPTS || Date.now() + pause + 500 > deadline) break;
        await sleep(pause);
      }
    }
    recordMetric("connect-failed", conn.name, { ms: Date.now() - started, attempts });
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    throw new UnreachableNodeError(
      context,
      `could not open an SSH connection after ${attempts} attempt${attempts === 1 ? "" : "s"} in ${((Date.now() - started) / 1000).toFixed(1)} s (connectTimeoutSeconds=${conn.connectTimeoutSeconds}): ${redactSecrets(message)}`,
      `check that ${conn.address}:${conn.port} is reachable from this machine and sshd runs there, or raise connectTimeoutSeconds for this host${
        /ECONNREFUSED/.test(message) ? "; a ufw `limit` rule on the SSH port also refuses a source for 30 s after 6 new connections: wait 30 s and run again" : ""
      }`,
    );
  }

  close(): void {
    this.client.end();
  }

  private async acquire(): Promise<void> {
    if (this.active < MAX_CHANNELS_PER_HOST) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /**
   * Runs a POSIX shell script as root on the host (through `sudo -S` for other
   * users, the password going in on stdin, never on a command line). Resolves
   * with the exit code; rejects only when the command could not run or timed out.
   */
  async run(script: string, options: RunOptions = {}): Promise<RemoteResult> {
    const asRoot = this.conn.user === "root";
    // -k: ask every time sudo asks at all, so the password line is always consumed and never
    // reaches the script; where sudo asks nothing (NOPASSWD), no password line is sent.
    const shell = `sh -c ${shellQuote(script)}${options.passSshConnection ? ` sh "$SSH_CONNECTION"` : ""}`;
    const command = asRoot ? shell : `sudo -k -S -p '' -- ${shell}`;
    const passwordLine = !asRoot && (await this.sudoAsksPassword()) ? `${this.sudoPassword ?? ""}\n` : "";
    const input = `${passwordLine}${options.stdin ?? ""}`;
    await this.acquire();
    try {
      recordMetric("command", this.conn.name);
      hostLog.debug(this.conn.name, `run: ${this.redactSecrets(options.description ?? script).split("\n")[0]}`);
      const result = await this.exec(command, input, options.description ?? script);
      if (!asRoot && result.code !== 0 && SUDO_REFUSED.test(result.stderr)) {
        throw new HardeningError(
          { host: this.conn.name, resource: "ssh", field: "sudoPassword" },
          `sudo refused to run commands as root for user ${this.conn.user}`,
          "set the user's password with `pulumi config set --secret sudoPassword` (or in hostCredentials), and check the user may use sudo (`sudo -l` on the host)",
          { command: `sudo -k -S -- sh -c ${this.redactSecrets(options.description ?? script).split("\n")[0]}`, exitCode: result.code, stderr: result.stderr },
        );
      }
      return result;
    } finally {
      this.release();
    }
  }

  /**
   * Whether sudo asks this user for a password: not where sudoers says NOPASSWD (or
   * !authenticate), and then sudo leaves standard input to the script, which a password line
   * would corrupt (a file's content, the filter's samples). `sudo -n` runs the command only
   * when no password is needed; -k ignores a cached one, as every command here does.
   */
  private sudoAsksPassword(): Promise<boolean> {
    this.sudoAsks ??= (async () => {
      await this.acquire();
      try {
        return (await this.exec("sudo -k -n true", "", "sudo -k -n true (does sudo ask this user for a password?)")).code !== 0;
      } finally {
        this.release();
      }
    })();
    return this.sudoAsks;
  }

  /**
   * Opens a channel for the command. sshd refuses a channel beyond MaxSessions
   * (10 by default), and it frees a session only after reaping the previous
   * command: under load, closed channels linger there, so a refusal is retried
   * a few times with a short backoff. Nothing ran on the host when it fails.
   */
  private async openChannel(command: string, description: string): Promise<ClientChannel> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<ClientChannel>((resolve, reject) => this.client.exec(command, (error: Error | undefined, channel: ClientChannel) => (error ? reject(error) : resolve(channel))));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (CHANNEL_REFUSED.test(message) && attempt < CHANNEL_OPEN_ATTEMPTS) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw new HardeningError(
          { host: this.conn.name, resource: "ssh" },
          `could not start a remote command: ${message}${attempt > 1 ? ` (after ${attempt} attempts)` : ""}`,
          CHANNEL_REFUSED.test(message) ? "sshd refused another session on this connection: raise MaxSessions in the host's sshd_config or lower --parallel" : "the SSH connection was lost; run the command again",
          { command: this.redactSecrets(description), exitCode: null, stderr: "" },
        );
      }
    }
  }

  private async exec(command: string, input: string, description: string): Promise<RemoteResult> {
    const timeoutMs = this.conn.commandTimeoutSeconds * 1000;
    const channel = await this.openChannel(command, description);
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const timer = setTimeout(() => {
        channel.close();
        reject(
          new HardeningError(
            { host: this.conn.name, resource: "ssh" },
            `a remote step did not finish within ${this.conn.commandTimeoutSeconds} s`,
            "raise commandTimeoutSeconds for this host or find out why the host is slow (apt lock, ufw on a large ruleset)",
            { command: this.redactSecrets(description), exitCode: null, stderr: this.redactSecrets(Buffer.concat(stderr).toString()) },
          ),
        );
      }, timeoutMs);
      channel.on("data", (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      channel.on("close", (code: number | null | undefined, signal?: string) => {
        clearTimeout(timer);
        const errorText = this.redactSecrets(Buffer.concat(stderr).toString());
        if (typeof code !== "number") {
          // No exit status: the command was killed or the connection dropped mid-way.
          reject(
            new HardeningError(
              { host: this.conn.name, resource: "ssh" },
              `the remote command ended without an exit status${signal ? ` (signal ${signal})` : ""}`,
              "the SSH connection was cut or the command was killed; run `pulumi up` again, every step is idempotent",
              { command: this.redactSecrets(description), exitCode: null, stderr: errorText },
            ),
          );
          return;
        }
        resolve({ stdout: Buffer.concat(stdout).toString(), stderr: errorText, code });
      });
      channel.end(input);
    });
  }
}
