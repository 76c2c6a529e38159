import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { repoRoot, stateDir } from "../scripts/engine";

// The demo end to end, then `--destroy`, as `npm run demo` runs them after its set-up step (the
// set-up is `npm test`'s pretest too, so it is not run again here). The demo gets this test run's
// sandbox (PHS_PREFIX, PHS_SANDBOX_DIR; never the demo's own .sandbox-demo) and its own stack
// name, so a demo a user left running is not touched.

const sandboxEnv = {
  PHS_PREFIX: process.env.PHS_PREFIX ?? "phs-",
  PHS_SANDBOX_DIR: process.env.PHS_SANDBOX_DIR ?? join(repoRoot, ".sandbox"),
};
const stack = `test-demo-${process.pid}`;

interface Run {
  code: number | null;
  output: string;
  seconds: number;
}

/** `node --import tsx scripts/demo.ts ARGS`, killed after `timeoutMs`; stdout and stderr together. */
function runDemo(args: string[], timeoutMs: number): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...sandboxEnv },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, so a timeout ends the demo and pulumi together
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[test] killed after ${timeoutMs} ms\n`;
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

let destroyed = false;

after(async () => {
  if (!destroyed) await runDemo(["--destroy", "--stack", stack], 240_000);
}, { timeout: 300_000 });

/** `npm run demo -- --help` (the demo only prints its usage), stdout and stderr in the order written. */
function npmRunDemoHelp(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", "npm run demo -- --help 2>&1"], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"], detached: true });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 100_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test("npm run demo runs the set-up first, and not the demo when the set-up fails", { timeout: 240_000 }, async () => {
  const usage = "usage: npm run demo";
  // The set-up's last step reports the toolchain (built, or found on PATH) before the demo starts.
  const ready = await npmRunDemoHelp({});
  assert.equal(ready.code, 0, ready.output);
  const toolchain = ready.output.search(/^\[toolchain [\d.]+s\] (Pulumi \S+ (already built|installed) in|using the Pulumi CLI on PATH)/m);
  assert.ok(toolchain >= 0, `the set-up ran: ${ready.output}`);
  assert.ok(ready.output.indexOf(usage) > toolchain, `the demo ran after it: ${ready.output}`);
  // A set-up that fails at once stops it: the toolchain step, told to build (not to take a pulumi
  // on PATH), finds none built under a PULUMI_HOME that is a file, and cannot create one there.
  const dir = mkdtempSync(join(tmpdir(), "phs-demo-home-"));
  try {
    writeFileSync(join(dir, "file"), "");
    const failed = await npmRunDemoHelp({ PULUMI_HOME: join(dir, "file"), PROXMOX_HARDENING_BUILD_PULUMI: "1" });
    assert.notEqual(failed.code, 0, failed.output);
    assert.match(failed.output, /\[setup\] step "the Pulumi toolchain" failed/);
    assert.ok(!failed.output.includes(usage), `the demo did not run: ${failed.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm run demo hardens a Debian 13 sandbox node, shows the firewall and the bans, and a second up changes nothing", { timeout: 420_000 }, async () => {
  const run = await runDemo(["--stack", stack], 400_000);
  const context = `exit ${run.code} after ${run.seconds} s; output:\n${run.output}`;
  assert.equal(run.code, 0, context);
  for (let step = 1; step <= 9; step++) assert.match(run.output, new RegExp(`^\\[${step}/9\\] `, "m"), `step ${step} announced; ${context}`);
  assert.equal((run.output.match(/^ {2}✔ .* \(\d+\.\d s\)$/gm) ?? []).length, 9, `9 steps done with their time; ${context}`);
  assert.doesNotMatch(run.output, /✘|The demo failed/, context);
  // a Debian 13 node (Proxmox VE 9's base) by default, booted by systemd with its pveproxy stand-in
  assert.match(run.output, /^ {4}pve1 up \(trixie node, journald\) at /m, context);
  // preview, up, the hardened host
  assert.match(run.output, /preview: \d+ resources to create/, context);
  assert.match(run.output, /│ Status: active$/m, context);
  assert.match(run.output, /│ Default: deny \(incoming\), allow \(outgoing\)/, context);
  assert.match(run.output, /│ 8006\/tcp +ALLOW IN +Anywhere/, context);
  assert.match(run.output, /→ pve1:3128 \(SPICE proxy\): no answer \(dropped by ufw\)/, context);
  // the attack and the bans
  assert.match(run.output, /with a wrong password, 3 times: denied, denied, denied/, context);
  const attacker = /attacker (\d+\.\d+\.\d+\.\d+)/.exec(run.output)?.[1];
  assert.ok(attacker, context);
  assert.match(run.output, new RegExp(`│ +\`- Banned IP list:\\s+${attacker.replace(/\./g, "\\.")}$`, "m"), context);
  assert.match(run.output, /attacker \([\d.]+\) → pve1:22 \(ssh\): (refused|no answer) \(banned/, context);
  // real failed logins at the web UI, each refused by pvedaemon (HTTP 401) and logged to the journal
  assert.match(run.output, /with a wrong password, 3 times: HTTP 401, 401, 401$/m, context);
  assert.match(run.output, new RegExp(`│ .* pvedaemon\\[\\d+\\]: authentication failure; rhost=::ffff:${attacker.replace(/\./g, "\\.")} user=root@pam`, "m"), context);
  assert.match(run.output, /attacker \([\d.]+\) → pve1:8006 \(web UI\): (refused|no answer) \(banned/, context);
  assert.match(run.output, /bystander \([\d.]+\) → pve1:22 \(ssh\): connected/, context);
  assert.match(run.output, /no changes: \d+ resources unchanged/, context);
  // what the user does next
  assert.match(run.output, new RegExp(`npm run demo -- --destroy --stack ${stack}`), context);
  assert.match(run.output, /pulumi stack init prod/, context);
  assert.match(run.output, /pulumi config set sshPrivateKeyPath ~\/\.ssh\/id_ed25519/, context);
  assert.ok(existsSync(join(repoRoot, `Pulumi.${stack}.yaml`)), "the stack stays for the user to look at");
});

test("npm run demo -- --destroy rolls back, removes the stack and the sandbox", { timeout: 300_000 }, async () => {
  const run = await runDemo(["--destroy", "--stack", stack], 240_000);
  destroyed = true;
  const context = `exit ${run.code} after ${run.seconds} s; output:\n${run.output}`;
  assert.equal(run.code, 0, context);
  assert.match(run.output, /│ Resources:\n +│ +- \d+ deleted$/m, context);
  assert.match(run.output, new RegExp(`stack ${stack} removed`), context);
  assert.match(run.output, /namespaces removed/, context);
  assert.ok(!existsSync(join(repoRoot, `Pulumi.${stack}.yaml`)), "stack config file removed");
  assert.ok(!existsSync(join(stateDir, ".pulumi", "stacks", "proxmox-hardening", `${stack}.json`)), "stack state removed");
  assert.ok(!existsSync(join(sandboxEnv.PHS_SANDBOX_DIR, "inventory.json")), "sandbox down");
});
