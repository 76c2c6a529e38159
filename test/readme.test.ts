import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { assertSandboxAddress, down, SandboxHost, up } from "../sandbox";
import { shellQuote } from "../providers/ssh/quote";
import { readmeCommands } from "../scripts/readme-commands";
import { engineEnv, pulumiCommand, repoRoot } from "../scripts/engine";
import { HostState, hostState, run } from "./support/host-state";
import pkg from "../package.json";

// README "Using it on your hosts", run command by command as a reader types them, read from
// README.md itself, with the real CLI (node_modules/.bin/pulumi, as the README says), in a copy of
// the project as a clone has it and a home directory of its own (login, passphrase file, state,
// ~/.ssh/id_ed25519 = the sandbox's key). The only change to a command: the example addresses and
// host keys in the `config set --path 'hosts[N]...'` lines become those of two sandbox nodes
// (systemd-booted Debian 13 and 12, journal only: default Proxmox VE 9 and 8 installs).
// Standing in for the reader: the password typed at the sudoPassword prompt, and "yes" to
// up's and destroy's question (PULUMI_SKIP_CONFIRMATIONS; the commands are not given --yes).

const commands = readmeCommands("## Using it on your hosts");
const at = (pattern: RegExp) => {
  const index = commands.findIndex((line) => pattern.test(line));
  assert.ok(index >= 0, `the README's commands include ${pattern}: ${commands.join(" | ")}`);
  return index;
};
const firstUp = at(/^pulumi up\s*(#|$)/);
const previewRefresh = at(/^pulumi preview --refresh\b/);
const upRefresh = at(/^pulumi up --refresh\b/);
const destroy = at(/^pulumi destroy\b/);

const driftSteps = (parse(readFileSync(join(repoRoot, ".github", "workflows", "drift.yml"), "utf8")).jobs.drift.steps as { run?: string; if?: string; env?: Record<string, string> }[])
  .filter((step) => step.run && step.run !== "npm ci");

let pve1: SandboxHost;
let pve2: SandboxHost;
let work: string;
let home: string;
let project: string;
let shellState: string;
const before_: Record<string, HostState> = {};

/** The reader's command with a sandbox host's address or key in place of the README's example. */
function substitute(line: string): string {
  const match = /^(pulumi config set --path 'hosts\[(\d)\]\.(address|hostKey)' )(.*?)(\s+#.*)?$/.exec(line);
  if (!match) return line;
  const host = [pve1, pve2][Number(match[2])];
  const example = match[4].replace(/^'(.*)'$/, "$1");
  const value = match[3] === "address" ? host.address : example.startsWith("SHA256:") ? host.hostKeyFingerprint : host.hostPublicKey;
  return `${match[1]}${shellQuote(value)}`;
}

/**
 * One command in bash, in the project copy, with what earlier commands exported; a clean
 * environment (nothing of this process's Pulumi settings). Bounded to 15 minutes.
 */
function sh(line: string, input = "", extraEnv: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const env = {
    ...extraEnv,
    HOME: home,
    // Pulumi takes its home from the passwd entry, not $HOME: without this it would log in
    // (credentials.json) in the machine's ~/.pulumi.
    PULUMI_HOME: join(home, ".pulumi"),
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    LANG: "C.UTF-8",
    TMPDIR: engineEnv().TMPDIR,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
  };
  const script = `set -e\n. ${shellQuote(shellState)}\n${line}\nexport -p > ${shellQuote(shellState)}\n`;
  return new Promise((resolve, reject) => {
    // No input: stdin is /dev/null, so that nothing waits for a terminal and no write can meet a closed pipe.
    const child = spawn("bash", ["-c", script], { cwd: project, env, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"], timeout: 900_000 });
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin?.end(input);
  });
}

/** Runs README commands [from, to) and asserts each succeeds. */
async function runCommands(from: number, to: number): Promise<void> {
  for (const line of commands.slice(from, to)) {
    const command = substitute(line);
    const input = /--secret sudoPassword\b/.test(command) ? pve2.sudoUser.password : "";
    const result = await sh(command, input);
    assert.equal(result.code, 0, `README command \`${command}\` exited ${result.code}:\n${result.output}`);
  }
}

/**
 * The `run` steps of drift.yml's job (all but `npm ci`, done) in the project copy, as the runner
 * would: RUNNER_TEMP of its own, the key secret = the sandbox key. The backend and the secrets
 * provider are the README's login and passphrase file, not the job's secrets. Its change to the
 * stack file is undone afterwards, as a fresh checkout would. The drift step's result.
 */
async function driftJob(): Promise<{ code: number | null; output: string }> {
  const stackFile = join(project, "Pulumi.prod.yaml");
  const checkedOut = readFileSync(stackFile, "utf8");
  const runnerTemp = mkdtempSync(join(work, "runner-"));
  const secrets: Record<string, string> = { PROD_SSH_PRIVATE_KEY: readFileSync(pve1.privateKeyPath, "utf8") };
  let drift: { code: number | null; output: string } | undefined;
  try {
    let failed = false;
    for (const step of driftSteps) {
      if (failed && !step.if?.includes("always()")) continue;
      const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([name, value]) => [name, secrets[/secrets\.(\w+)/.exec(value)?.[1] ?? ""] ?? value]));
      const result = await sh(step.run!, "", { RUNNER_TEMP: runnerTemp, ...stepEnv });
      if (step.run!.includes("--expect-no-changes")) drift = result;
      else assert.equal(result.code, 0, `drift.yml step \`${step.run}\`:\n${result.output}`);
      failed ||= result.code !== 0;
    }
  } finally {
    writeFileSync(stackFile, checkedOut);
  }
  assert.deepEqual(readdirSync(runnerTemp), [], "the key file is removed");
  assert.ok(drift, "drift.yml has the drift check step");
  return drift;
}

async function assertHardened(host: SandboxHost): Promise<void> {
  const ufw = await run(host, "ufw status verbose");
  assert.match(ufw, /^Status: active$/m, `${host.name}:\n${ufw}`);
  assert.match(ufw, /^Default: deny \(incoming\), allow \(outgoing\)/m);
  for (const port of ["22", "8006"]) assert.match(ufw, new RegExp(`^${port}/tcp +ALLOW IN +Anywhere`, "m"), `${host.name}: ${port}/tcp`);
  assert.match(ufw, /^9100\/tcp +ALLOW IN +198\.51\.100\.0\/24 +# node exporter from monitoring/m, `${host.name}: Pulumi.prod.yaml's extra rule`);
  const jails = await run(host, "fail2ban-client status");
  assert.match(jails, /Jail list:.*\bproxmox\b/, `${host.name}:\n${jails}`);
  assert.match(jails, /Jail list:.*\bsshd\b/);
}

before(async () => {
  await down();
  // A reader's nodes run systemd (fail2ban and sshd are units): Proxmox VE 9 and 8 as installed, journal only.
  [pve1, pve2] = (await up({ count: 0, nodes: [{ release: "trixie" }, { release: "bookworm" }] })).hosts;
  // As on the reader's nodes: their key in the authorized_keys of the user each node names (ops on pve2).
  const publicKey = readFileSync(`${pve2.privateKeyPath}.pub`, "utf8");
  await run(pve2, `install -d -m 700 -o ops -g ops ~ops/.ssh && printf '%s' ${shellQuote(publicKey)} > ~ops/.ssh/authorized_keys && chown ops: ~ops/.ssh/authorized_keys`);
  before_.pve1 = await hostState(pve1);
  before_.pve2 = await hostState(pve2);

  work = mkdtempSync(join(tmpdir(), "phs-readme-"));
  home = join(work, "home");
  project = join(work, "proxmox-hardening");
  shellState = join(work, "exported.sh");
  // The reader's home: their key, and the CLI the toolchain step built, where the pulumi npm package looks.
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  copyFileSync(pve1.privateKeyPath, join(home, ".ssh", "id_ed25519"));
  chmodSync(join(home, ".ssh", "id_ed25519"), 0o600);
  mkdirSync(join(home, ".pulumi", "versions", pkg.devDependencies.pulumi), { recursive: true });
  symlinkSync(dirname((await pulumiCommand()).command), join(home, ".pulumi", "versions", pkg.devDependencies.pulumi, "bin"));
  // The clone: the program and its committed stack file; `npm ci` done (the project's node_modules).
  mkdirSync(project);
  for (const file of ["index.ts", "Pulumi.yaml", "Pulumi.prod.yaml", "package.json", "tsconfig.json", "providers"]) cpSync(join(repoRoot, file), join(project, file), { recursive: true });
  symlinkSync(join(repoRoot, "node_modules"), join(project, "node_modules"));
  writeFileSync(shellState, "");
}, { timeout: 600_000 });

after(async () => {
  await down();
  if (work) rmSync(work, { recursive: true, force: true });
}, { timeout: 600_000 });

test("the README's setup, as written, hardens both nodes of the committed example stack", { timeout: 1_800_000 }, async () => {
  await runCommands(0, firstUp);
  // Before anything connects: every host of the stack is a sandbox host (the README's examples are
  // documentation addresses, which must never be contacted from this machine).
  const hosts = parse(readFileSync(join(project, "Pulumi.prod.yaml"), "utf8")).config["proxmox-hardening:hosts"] as { address: string }[];
  assert.deepEqual(hosts.map((host) => host.address), [pve1.address, pve2.address]);
  for (const host of hosts) await assertSandboxAddress(host.address);
  await runCommands(firstUp, firstUp + 1);
  for (const host of [pve1, pve2]) await assertHardened(host);
  const stackFile = readFileSync(join(project, "Pulumi.prod.yaml"), "utf8");
  assert.doesNotMatch(stackFile, /BEGIN OPENSSH PRIVATE KEY|b3BlbnNzaC1rZXk/, "the key itself is not in the stack file");
  assert.ok(!stackFile.includes(pve2.sudoUser.password), "the sudo password is stored encrypted");
});

test("a change by hand: the README's refresh shows it, the drift check fails with it in its log, up --refresh repairs it", { timeout: 1_800_000 }, async () => {
  await runCommands(firstUp + 1, previewRefresh);
  await run(pve1, "ufw default allow incoming");
  const refreshed = await sh(commands[previewRefresh]);
  assert.equal(refreshed.code, 0, refreshed.output);
  assert.match(refreshed.output, /~ +\S+:ufwDefaults pve1-ufw-defaults update \[diff: ~defaults\]/, refreshed.output);

  const drift = await driftJob();
  assert.notEqual(drift.code, 0, `drift.yml's check passed with pve1 changed by hand:\n${drift.output}`);
  assert.match(drift.output, /~ incoming +: "allow" => "deny"/, drift.output);

  await runCommands(previewRefresh + 1, upRefresh + 1);
  for (const host of [pve1, pve2]) await assertHardened(host);
  const clean = await driftJob();
  assert.equal(clean.code, 0, `the drift check after the repair:\n${clean.output}`);
});

test("the README's destroy puts both nodes back as they were", { timeout: 1_800_000 }, async () => {
  await runCommands(upRefresh + 1, destroy + 1);
  assert.equal(destroy, commands.length - 1, "destroy is the README's last command");
  assert.deepEqual(await hostState(pve1), before_.pve1);
  assert.deepEqual(await hostState(pve2), before_.pve2);
});
