import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { down, hostExec, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { parseStatusVerbose } from "./support/ufw-status";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// A node whose operator had ufw on before this stack, with SSH let in by the OpenSSH application
// profile (which ufw's rules files name, but whose ports only ufw's profile files settle). The
// stack's rules are judged when they are taken away while ufw is on; a rule the program cannot
// judge must not block a destroy that puts the node's own rules back: destroy restores exactly.

let node: SandboxHost;
let program: ProgramStack;
let original: HostState;

const rulesOf = async (host: SandboxHost) => parseStatusVerbose(await run(host, "ufw status verbose")).rules.filter((rule) => !rule.v6).map((rule) => `${rule.action} ${rule.to}`);

before(async () => {
  await down();
  [node] = (await up({ count: 1, modes: ["journald"] })).hosts;
  const setup = await hostExec(node, "ufw allow OpenSSH && ufw --force enable", { timeoutMs: 60_000 });
  assert.equal(setup.code, 0, setup.stderr);
  assert.deepEqual(await rulesOf(node), ["allow 22/tcp (OpenSSH)"]);
  original = await hostState(node);
  program = await ProgramStack.create(`test-ufwon-${process.pid}`, sandboxConfig([{ host: node }]));
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("up on a node where ufw was already on keeps the operator's rule and adds the stack's", { timeout: 600_000 }, async () => {
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.deepEqual(await rulesOf(node), ["allow 22/tcp (OpenSSH)", "allow 22/tcp", "allow 8006/tcp"]);
});

test("destroy takes the stack's SSH rule away while ufw stays on (the profile may still let SSH in) and puts the node back exactly", { timeout: 600_000 }, async () => {
  assert.equal((await program.stack.destroy()).summary.result, "succeeded");
  assert.deepEqual(await hostState(node), original);
  assert.deepEqual(await rulesOf(node), ["allow 22/tcp (OpenSSH)"]);
  assert.match(await run(node, "ufw status"), /^Status: active$/m);
});
