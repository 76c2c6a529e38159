// npm run demo                 harden a local sandbox node (Debian 13) with the real program, attack it, show the bans
// npm run demo -- --destroy    roll the demo back (pulumi destroy) and remove the sandbox
//
// Options: --stack NAME (default demo), --debian12 (a Debian 12 node, Proxmox VE 8's base, instead
// of Debian 13, Proxmox VE 9's), --syslog (rsyslog besides the journal), --help.
//
// Everything stays on this machine: the host is a sandbox node (a systemd-booted Debian in its own
// namespaces, with real OpenSSH, UFW, fail2ban and stand-ins for pveproxy, pvedaemon and pvesh, see
// sandbox/README.md), the Pulumi state is a local
// file backend in .pulumi-state/ and config is encrypted with a demo-only passphrase. The sandbox
// has its own name prefix and directory (PHS_PREFIX=demo-, PHS_SANDBOX_DIR=.sandbox-demo unless
// set), so it never touches a test run's sandbox. A re-run replaces the sandbox node and the demo
// stack; after a run the node stays up so you can look around.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import type { Mode, Release, SandboxClient, SandboxHost } from "../sandbox";
import { engineEnv, repoRoot, stateDir } from "./engine";
import type { Reach } from "../sandbox/attack";
import type { ProgramStack } from "./program-stack";
import { readmeCommands } from "./readme-commands";

process.env.PHS_PREFIX ??= "demo-";
process.env.PHS_SANDBOX_DIR ??= join(repoRoot, ".sandbox-demo");

// Loaded after the environment is set: the sandbox module reads PHS_PREFIX/PHS_SANDBOX_DIR once.
const sandbox = () => import("../sandbox");
const attack = () => import("../sandbox/attack");
const programSupport = () => import("./program-stack");

interface Options {
  destroy: boolean;
  stack: string;
  release: Release;
  mode: Mode;
}

const USAGE = "usage: npm run demo [-- --destroy] [-- --stack NAME] [-- --debian12] [-- --syslog]";

function parseCommandLine(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        destroy: { type: "boolean", default: false },
        stack: { type: "string", default: "demo" },
        debian12: { type: "boolean", default: false },
        syslog: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(values.stack)) {
    console.error(`--stack: not a stack name: ${values.stack}`);
    process.exit(2);
  }
  return { destroy: values.destroy, stack: values.stack, release: values.debian12 ? "bookworm" : "trixie", mode: values.syslog ? "syslog" : "journald" };
}

// ------------------------------------------------------------------------------------------------
// Output: a numbered progress line per step, its output indented, the elapsed time at its end.

const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
let lastOutput = Date.now();

function say(text = ""): void {
  process.stdout.write(`${text}\n`);
  lastOutput = Date.now();
}

/** Command output, indented under its step. */
function show(text: string, prefix = "    │ "): void {
  for (const line of text.replace(/\s+$/, "").split("\n")) say(`${prefix}${line}`);
}

/** Pulumi's streamed output, line by line, indented. */
function streamer(): { write: (chunk: string) => void; flush: () => void } {
  let pending = "";
  return {
    write(chunk) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) say(`    │ ${line}`);
    },
    flush() {
      if (pending) say(`    │ ${pending}`);
      pending = "";
    },
  };
}

/** A Pulumi operation with its output streamed under the step, whole lines as they come. */
async function streamed<T>(operation: (onOutput: (chunk: string) => void) => Promise<T>): Promise<T> {
  const out = streamer();
  try {
    return await operation(out.write);
  } finally {
    out.flush();
  }
}

/** Pulumi's own colours when the demo's output is a terminal. */
const color = tty ? "always" : "never";

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

class Steps {
  private done = 0;
  constructor(private readonly total: number) {}

  async run<T>(title: string, fn: () => Promise<T>): Promise<T> {
    const number = ++this.done;
    const started = Date.now();
    say();
    say(paint("1", `[${number}/${this.total}] ${title}`));
    // A step that runs quietly still shows it is alive.
    const ticker = setInterval(() => {
      if (Date.now() - lastOutput >= 10_000) say(paint("2", `    … ${title}: ${seconds(started)} s`));
    }, 1_000);
    try {
      const result = await fn();
      say(paint("32", `  ✔ ${title} (${seconds(started)} s)`));
      return result;
    } catch (error) {
      say(paint("31", `  ✘ ${title}: failed after ${seconds(started)} s`));
      throw error;
    } finally {
      clearInterval(ticker);
    }
  }
}

/** What a probe must give: connected, banned (refused, or unanswered: see isBlocked), dropped by ufw. */
type Expect = "open" | "banned" | "dropped";

function reachWord(reach: Reach, expect: Expect): string {
  if (reach === "open") return "connected";
  if (expect === "banned") return reach === "refused" ? "refused (banned: fail2ban rejects it)" : "no answer (banned: fail2ban rejects it, the kernel rate-limits the replies)";
  return reach === "timeout" ? "no answer (dropped by ufw)" : "refused";
}

/** Probes from a client, printed, and checked against what the hardening must give. */
async function probeAll(client: SandboxClient, host: SandboxHost, expected: Record<number, Expect>): Promise<void> {
  const { clientProbe, isBlocked } = await attack();
  const names: Record<number, string> = { 22: "ssh", 8006: "web UI", 3128: "SPICE proxy" };
  const wrong: string[] = [];
  for (const [portText, want] of Object.entries(expected)) {
    const port = Number(portText);
    const got = await clientProbe(client, host.address, port);
    say(`    ${client.name} (${client.address}) → ${host.name}:${port} (${names[port] ?? "?"}): ${reachWord(got, want)}`);
    const ok = want === "open" ? got === "open" : want === "dropped" ? got === "timeout" : isBlocked(got);
    if (!ok) wrong.push(`${client.name} → ${host.address}:${port}: ${got}, expected ${want}`);
  }
  if (wrong.length) throw new Error(`unexpected reachability:\n${wrong.join("\n")}`);
}

async function hostShow(host: SandboxHost, command: string): Promise<string> {
  const { hostExec } = await sandbox();
  const r = await hostExec(host, command, { timeoutMs: 30_000 });
  say(`    ${paint("2", `${host.name}#`)} ${command}`);
  show(r.stdout + r.stderr);
  if (r.code !== 0) throw new Error(`${host.name}: ${command} exited ${r.code ?? r.signal}`);
  return r.stdout;
}

function engineEnvLine(): string {
  const env = engineEnv();
  return `export PULUMI_BACKEND_URL=${env.PULUMI_BACKEND_URL} PULUMI_CONFIG_PASSPHRASE=${env.PULUMI_CONFIG_PASSPHRASE}`;
}

function sandboxEnvLine(): string {
  return `PHS_PREFIX=${process.env.PHS_PREFIX} PHS_SANDBOX_DIR=${relative(repoRoot, process.env.PHS_SANDBOX_DIR!) || "."}`;
}

function destroyCommand(options: Options): string {
  return `npm run demo -- --destroy${options.stack === "demo" ? "" : ` --stack ${options.stack}`}`;
}

// ------------------------------------------------------------------------------------------------
// The demo: one function per step, in the order they run.

/** A sandbox node to harden, and two clients on its network: one attacks it, one only watches. */
interface Scene {
  host: SandboxHost;
  attacker: SandboxClient;
  bystander: SandboxClient;
}

async function demo(options: Options): Promise<void> {
  const steps = new Steps(9);
  introduce();
  const scene = await steps.run(`Start a sandbox node (${nodeDescription(options)})`, () => startScene(options));
  await steps.run("Before hardening: what anyone on the network reaches", () => showBefore(scene));
  const program = await steps.run(`Create the Pulumi stack "${options.stack}" for this host`, () => createStack(options.stack, scene.host));
  await steps.run("pulumi preview: what would change (opens no SSH connection)", () => preview(program));
  await steps.run("pulumi up: harden the host", () => harden(program));
  await steps.run("The host after hardening", () => showHardened(scene));
  await steps.run("Brute force on SSH: the attacker tries three wrong passwords", () => attackSsh(scene));
  await steps.run("Brute force on the web UI: three failed Proxmox logins from the attacker", () => attackWebUi(scene));
  await steps.run("pulumi up again: nothing to change", () => upAgain(program));
  await showWhatNext(options, scene);
}

function introduce(): void {
  say(paint("1", "proxmox-hardening demo: harden a Proxmox-VE-like host with the real Pulumi program, then attack it"));
  say(`Everything runs on this machine: a sandbox node (${sandboxEnvLine()}), Pulumi state in ${relative(repoRoot, stateDir)}/ (a local file backend),`);
  say(`config encrypted with a demo-only passphrase. Nothing is sent anywhere.`);
}

function nodeDescription(options: Options): string {
  const base = options.release === "trixie" ? "Debian 13, like Proxmox VE 9" : "Debian 12, like Proxmox VE 8";
  return `${base}; ${options.mode === "journald" ? "journal only, as a default install" : "rsyslog too"}`;
}

async function startScene(options: Options): Promise<Scene> {
  const sb = await sandbox();
  const { startListener } = await attack();
  const inventory = await sb.up({ count: 0, nodes: [{ release: options.release, mode: options.mode }], log: (line) => say(`    ${line}`) });
  const host = inventory.hosts[0];
  say(`    ${host.name}: ${host.address} / ${host.address6}, ssh host key ${host.hostKeyFingerprint}`);
  // The node's pveproxy stand-in serves the web UI on 8006; spiceproxy has none: a listener takes 3128.
  await startListener(host, 3128, 3600);
  say("    systemd runs ssh, fail2ban, pveproxy and pvedaemon (stand-ins) on 8006; a listener on 3128 (spiceproxy)");
  const attacker = await sb.addClient("attacker");
  const bystander = await sb.addClient("bystander");
  say(`    clients on the same network: attacker ${attacker.address}, bystander ${bystander.address}`);
  return { host, attacker, bystander };
}

async function showBefore({ host, attacker }: Scene): Promise<void> {
  const { hostExec } = await sandbox();
  await probeAll(attacker, host, { 22: "open", 8006: "open", 3128: "open" });
  await hostShow(host, "ufw status");
  const ping = await hostExec(host, "fail2ban-client ping", { timeoutMs: 10_000 });
  say(`    fail2ban: ${ping.code === 0 ? "running with Debian's default config (an sshd jail)" : "not running (Debian 12's default sshd jail finds no /var/log/auth.log on a journal-only node)"}`);
}

async function createStack(stack: string, host: SandboxHost): Promise<ProgramStack> {
  const { ProgramStack, sandboxConfig } = await programSupport();
  const earlier = await ProgramStack.select(stack);
  if (earlier) {
    say(`    an earlier demo stack "${stack}" exists; its sandbox node was just replaced, so its state is dropped`);
    await earlier.forget();
  }
  const created = await ProgramStack.create(stack, sandboxConfig([{ host }]));
  say(`    Pulumi.${stack}.yaml (the host, its pinned host key, the sandbox's SSH key; everything else is the reference procedure's default):`);
  show(readFileSync(join(repoRoot, `Pulumi.${stack}.yaml`), "utf8"));
  return created;
}

async function preview(program: ProgramStack): Promise<void> {
  const result = await streamed((onOutput) => program.stack.preview({ onOutput, color }));
  const creates = result.changeSummary.create ?? 0;
  if (creates === 0) throw new Error(`preview plans no creates: ${JSON.stringify(result.changeSummary)}`);
  say(`    preview: ${creates} resources to create`);
}

async function harden(program: ProgramStack): Promise<void> {
  const result = await streamed((onOutput) => program.stack.up({ onOutput, color }));
  if (result.summary.result !== "succeeded") throw new Error(`pulumi up: ${result.summary.result}`);
}

async function showHardened({ host, attacker }: Scene): Promise<void> {
  const ufw = await hostShow(host, "ufw status verbose");
  if (!/^Status: active$/m.test(ufw) || !/^Default: deny \(incoming\)/m.test(ufw)) throw new Error("ufw is not active with incoming deny");
  const jails = await hostShow(host, "fail2ban-client status");
  if (!/Jail list:.*\bproxmox\b/.test(jails) || !/Jail list:.*\bsshd\b/.test(jails)) throw new Error("the sshd and proxmox jails are not running");
  await hostShow(host, "fail2ban-client status sshd");
  await hostShow(host, "fail2ban-client status proxmox");
  await hostShow(host, "pvesh get /cluster/firewall/options");
  say("    Reachability now:");
  await probeAll(attacker, host, { 22: "open", 8006: "open", 3128: "dropped" });
}

async function attackSsh({ host, attacker, bystander }: Scene): Promise<void> {
  const { bruteForceSsh, waitForBan } = await attack();
  const attempts = await bruteForceSsh(attacker, host, 3);
  say(`    ${attacker.name} → ssh root@${host.address} with a wrong password, 3 times: ${attempts.join(", ")}`);
  if (!attempts.every((a) => a === "denied")) throw new Error(`the logins did not all reach the password check: ${attempts.join(", ")}`);
  if (!(await waitForBan(host, "sshd", attacker.address, 30_000))) throw new Error(`fail2ban did not ban ${attacker.address} within 30 s`);
  // The ban also rejects the last packets of the attacker's closing SSH connections, which uses up
  // the kernel's ICMP allowance for that address (1/s); after a moment the refusal is visible.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await hostShow(host, "fail2ban-client status sshd");
  await probeAll(attacker, host, { 22: "banned", 8006: "open" });
  await probeAll(bystander, host, { 22: "open" });
}

async function attackWebUi({ host, attacker, bystander }: Scene): Promise<void> {
  const { bannedIps, failedWebLogin, waitForBan } = await attack();
  // Real logins at the web UI: pvedaemon logs each failure in the journal, with the attacker's address.
  const answers: number[] = [];
  for (let i = 0; i < 3; i++) answers.push(await failedWebLogin(attacker, host));
  say(`    ${attacker.name} → POST https://${host.address}:8006/api2/json/access/ticket as root@pam with a wrong password, 3 times: HTTP ${answers.join(", ")}`);
  if (!answers.every((status) => status === 401)) throw new Error(`the logins were not all refused with 401: ${answers.join(", ")}`);
  await hostShow(host, "journalctl -q -o short SYSLOG_IDENTIFIER=pvedaemon -p err -n 3 --no-pager");
  if (!(await waitForBan(host, "proxmox", attacker.address, 30_000))) throw new Error(`fail2ban did not ban ${attacker.address} in the proxmox jail within 30 s`);
  await hostShow(host, "fail2ban-client status proxmox");
  await probeAll(attacker, host, { 8006: "banned" });
  await probeAll(bystander, host, { 8006: "open" });
  if (!(await bannedIps(host, "sshd")).includes(attacker.address)) throw new Error("the SSH ban is gone");
}

async function upAgain(program: ProgramStack): Promise<void> {
  const result = await streamed((onOutput) => program.stack.up({ onOutput, color }));
  const changes = result.summary.resourceChanges ?? {};
  const changed = Object.entries(changes).filter(([op, n]) => op !== "same" && (n ?? 0) > 0);
  if (result.summary.result !== "succeeded" || changed.length > 0) throw new Error(`the second up changed something: ${JSON.stringify(changes)}`);
  say(`    no changes: ${changes.same ?? 0} resources unchanged`);
}

async function showWhatNext(options: Options, { host, attacker, bystander }: Scene): Promise<void> {
  const sb = await sandbox();
  const inv = sb.readInventory();
  say();
  say(paint("1", "What this showed:"));
  say(`  ufw lets in ssh (22) and the web UI (8006) and drops everything else (here 3128);`);
  say(`  fail2ban banned the attacker ${attacker.address} after 3 failures, on ssh and on the web UI, for an hour`);
  say(`  (bantime 3600); the bystander ${bystander.address} still gets in; a second pulumi up changed nothing.`);
  say();
  say(paint("1", "The sandbox node stays up so you can look around, e.g.:"));
  say(`  ${sandboxEnvLine()} npm run sandbox -- exec ${host.name} 'fail2ban-client status sshd'`);
  say(`  ${sandboxEnvLine()} npm run sandbox -- exec ${host.name} '${options.release === "trixie" ? "nft list table inet f2b-table" : "iptables -S f2b-sshd"}; ufw status numbered'`);
  say(`  ${engineEnvLine()}`);
  say(`  npx pulumi stack -s ${options.stack}            # the demo stack's resources (local state, demo passphrase)`);
  say(`  (sandbox network ${inv.network.ipv4}; inventory ${relative(repoRoot, sb.INVENTORY_PATH)})`);
  say();
  say(paint("1", "Roll the host back and remove the sandbox:"));
  say(`  ${destroyCommand(options)}`);
  say();
  say(paint("1", "Harden your own hosts with the same program (README: \"Using it on your hosts\"):"));
  for (const command of readmeCommands("### Set up the prod stack")) say(`  ${command}`);
  say("  pulumi preview && pulumi up                    # pulumi destroy puts every host back as it was");
}

// ------------------------------------------------------------------------------------------------
// --destroy: roll the stack back, then remove the sandbox even when the rollback failed.

async function destroyDemo(options: Options): Promise<void> {
  const steps = new Steps(2);
  let failure: unknown;
  await steps.run(`pulumi destroy: roll back the demo stack "${options.stack}"`, () => rollBack(options.stack)).catch((error: unknown) => {
    failure = error;
  });
  await steps.run("Remove the sandbox", removeSandbox);
  if (failure) throw failure;
  say();
  say("The demo is rolled back and its sandbox is gone. `npm run demo` starts it again.");
}

async function rollBack(stack: string): Promise<void> {
  const { ProgramStack } = await programSupport();
  const program = await ProgramStack.select(stack);
  if (!program) {
    say(`    no stack "${stack}": nothing to roll back`);
    return;
  }
  let destroyError: unknown;
  if (!(await sandboxRunning())) {
    say("    the demo's sandbox node is not running any more: dropping the stack's state without touching a host");
  } else {
    try {
      const result = await streamed((onOutput) => program.stack.destroy({ onOutput, color }));
      if (result.summary.result !== "succeeded") throw new Error(`pulumi destroy: ${result.summary.result}`);
    } catch (error) {
      // The sandbox goes away next anyway: drop the state so that the next demo starts clean.
      destroyError = error;
      say("    destroy failed; dropping the stack's state anyway, the sandbox is removed next");
    }
  }
  await program.forget();
  say(`    stack ${stack} removed (its state and Pulumi.${stack}.yaml)`);
  if (destroyError) throw destroyError;
}

/** Whether every host of the demo's sandbox still runs (false without a sandbox). */
async function sandboxRunning(): Promise<boolean> {
  const sb = await sandbox();
  try {
    return sb.readInventory().hosts.every((host) => sb.hostPid(host) > 0);
  } catch {
    return false;
  }
}

async function removeSandbox(): Promise<void> {
  const report = await (await sandbox()).down();
  say(`    ${report.namespaces.length} namespaces removed, ${report.killedProcesses} processes ended`);
}

async function main(): Promise<number> {
  const options = parseCommandLine(process.argv.slice(2));
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    console.error("The demo's sandbox node is made of Linux namespaces and needs root: run `sudo npm run demo` (or as root).");
    return 1;
  }
  const started = Date.now();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      say(`\ninterrupted: run \`${destroyCommand(options)}\` to remove what was started`);
      process.exit(130);
    });
  }
  try {
    if (options.destroy) await destroyDemo(options);
    else await demo(options);
    say(paint("2", `\n(${seconds(started)} s in all)`));
    return 0;
  } catch (error) {
    say();
    // Pulumi's errors repeat its whole output, which was streamed above already: keep the head.
    const lines = (error instanceof Error ? error.message : String(error)).split("\n");
    const shown = lines.length > 25 ? [...lines.slice(0, 25), `… (${lines.length - 25} more lines; the step's output is above)`] : lines;
    say(paint("31", `The demo failed: ${shown.join("\n")}`));
    if (!options.destroy) say(`To remove what was started: ${destroyCommand(options)}`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
