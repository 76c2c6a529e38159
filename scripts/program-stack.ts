import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { typeTokenOf } from "../providers/core/shim";
import { preflightKind } from "../providers/preflight/kinds";
import { SandboxHost } from "../sandbox";
import { engineEnv, pulumiCommand, repoRoot, stateDir } from "./engine";

// The real program (index.ts, Pulumi.yaml at the repo root), run by the real
// engine through the Automation API on a stack whose config points at
// sandbox hosts, exactly as a user's `pulumi up -s <stack>` would.

export interface HostChoice {
  host: SandboxHost;
  /** Connect as the sandbox's sudo user (password login) instead of root with the key. */
  viaSudoUser?: boolean;
  cluster?: string;
}

/** Stack config for sandbox hosts; `settings` are the other program keys (ufw, fail2ban...). */
export function sandboxConfig(choices: HostChoice[], settings: Record<string, unknown> = {}) {
  const hosts = choices.map(({ host, viaSudoUser, cluster }) => ({
    name: host.name,
    address: host.address,
    port: host.sshPort,
    user: viaSudoUser ? host.sudoUser.name : host.user,
    hostKey: host.hostPublicKey,
    ...(cluster ? { cluster } : {}),
  }));
  const hostCredentials = Object.fromEntries(
    choices.filter((c) => c.viaSudoUser).map(({ host }) => [host.name, { password: host.sudoUser.password, sudoPassword: host.sudoUser.password }]),
  );
  return { hosts, hostCredentials, privateKeyPath: choices[0].host.privateKeyPath, settings };
}

/**
 * Whether a resource in state is a host's preflight: it only reads the host, so an up refused
 * later may still save it with the new config it checked; "state unchanged" is about the rest.
 */
export const isPreflight = (resource: { type?: unknown }) => resource.type === typeTokenOf(preflightKind.name);

export class ProgramStack {
  /** JSON lines of SSH events the providers record (see providers/ssh/transport.ts). */
  readonly metricsFile: string;

  private constructor(readonly stack: Stack) {
    this.metricsFile = metricsFileOf(stack.name);
  }

  /** `workDir`: the program to run, this checkout's by default (the upgrade test's is an earlier release's). */
  static async create(name: string, config: ReturnType<typeof sandboxConfig>, workDir = repoRoot): Promise<ProgramStack> {
    const env = engineEnv(); // creates the state directory, where the metrics file goes
    const metricsFile = metricsFileOf(name);
    writeFileSync(metricsFile, "");
    const stack = await LocalWorkspace.createOrSelectStack(
      { workDir, stackName: name },
      { pulumiCommand: await pulumiCommand(), envVars: { ...env, PROXMOX_HARDENING_METRICS: metricsFile } },
    );
    const program = new ProgramStack(stack);
    await program.configure(config);
    return program;
  }

  /** The existing stack of that name, as it is (config untouched); undefined when there is none. */
  static async select(name: string): Promise<ProgramStack | undefined> {
    const env = engineEnv();
    const workspace = await LocalWorkspace.create({ workDir: repoRoot, pulumiCommand: await pulumiCommand(), envVars: { ...env, PROXMOX_HARDENING_METRICS: metricsFileOf(name) } });
    if (!(await workspace.listStacks()).some((summary) => summary.name === name)) return undefined;
    return new ProgramStack(await Stack.select(name, workspace));
  }

  async configure(config: ReturnType<typeof sandboxConfig>): Promise<void> {
    const values: Record<string, { value: string; secret?: boolean }> = {
      hosts: { value: JSON.stringify(config.hosts) },
      sshPrivateKeyPath: { value: config.privateKeyPath },
    };
    if (Object.keys(config.hostCredentials).length > 0) values.hostCredentials = { value: JSON.stringify(config.hostCredentials), secret: true };
    for (const [key, value] of Object.entries(config.settings)) values[key] = { value: JSON.stringify(value) };
    for (const key of ["proxmoxFirewall", "ufw", "fail2ban", "packages"]) if (!(key in config.settings)) await this.stack.removeConfig(key).catch(() => undefined);
    await this.stack.setAllConfig(values);
  }

  /** SSH connections and commands the providers made since the last call. */
  sshActivity(): { connections: number; commands: number } {
    const lines = existsSync(this.metricsFile) ? readFileSync(this.metricsFile, "utf8").split("\n").filter(Boolean) : [];
    writeFileSync(this.metricsFile, "");
    const events = lines.map((line) => JSON.parse(line) as { event: string });
    return { connections: events.filter((e) => e.event === "connect").length, commands: events.filter((e) => e.event === "command").length };
  }

  async remove(): Promise<void> {
    await this.stack.destroy().catch(() => undefined);
    await this.stack.workspace.removeStack(this.stack.name).catch(() => undefined);
    this.removeFiles();
  }

  /**
   * Deletes the stack and its state without touching any host (`pulumi stack rm --force`): for
   * a stack whose sandbox hosts are gone or about to be replaced.
   */
  async forget(): Promise<void> {
    await this.stack.workspace.removeStack(this.stack.name, { force: true });
    this.removeFiles();
  }

  private removeFiles(): void {
    rmSync(this.metricsFile, { force: true });
    rmSync(join(this.stack.workspace.workDir, `Pulumi.${this.stack.name}.yaml`), { force: true });
  }
}

function metricsFileOf(stackName: string): string {
  return join(stateDir, `metrics-${stackName}.jsonl`);
}
