import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addClient, down, hostExec, Inventory, SandboxClient, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { parseStatusVerbose } from "./support/ufw-status";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// A node whose operator had ufw on, letting every connection in (`ufw default allow incoming`).
// The stack's "deny incoming" then filters a running firewall at once, with no activation step to
// judge it: the preflight judges it like switching ufw on (and the defaults step again, at the
// last moment), so a stack whose rules would shut this program out is refused before the first
// change, and one whose rules keep it in leaves it connected.

let inventory: Inventory;
let node: SandboxHost;
let outsider: SandboxClient;
let program: ProgramStack;
let original: HostState;

const webUi = { action: "allow", protocol: "tcp", port: 8006, comment: "proxmox web ui" };
const incomingPolicy = async () => parseStatusVerbose(await run(node, "ufw status verbose")).defaults?.incoming;

before(async () => {
  await down();
  inventory = await up({ count: 1, modes: ["journald"] });
  [node] = inventory.hosts;
  outsider = await addClient("outsider");
  const setup = await hostExec(node, "ufw default allow incoming && ufw --force enable", { timeoutMs: 60_000 });
  assert.equal(setup.code, 0, setup.stderr);
  assert.equal(await incomingPolicy(), "allow");
  original = await hostState(node);
  program = await ProgramStack.create(`test-ufwallow-${process.pid}`, sandboxConfig([{ host: node }]));
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("SSH only from a network the program is not in, on a running ufw that lets everything in: up refuses before the first change", { timeout: 600_000 }, async () => {
  // The outsider's address as a /32: a management network this machine is not part of.
  await program.configure(sandboxConfig([{ host: node }], { ufw: { rules: [{ action: "allow", protocol: "tcp", port: 22, from: outsider.address, comment: "admins" }, webUi] } }));
  await assert.rejects(program.stack.up(), (error: Error) => {
    assert.match(error.message, /refused before the first change on this host, so nothing was changed on it:\n +ufw\.rules: this program's SSH connection comes from/);
    assert.match(error.message, new RegExp(`comes from ${inventory.network.machineAddress.replace(/\./g, "\\.")} \\(as the host sees it`));
    return true;
  });
  assert.deepEqual(await hostState(node), original, "the node untouched");
  assert.equal(await incomingPolicy(), "allow");
});

test("the default rules on the same node: incoming is denied, the program keeps its access, destroy puts the node back", { timeout: 600_000 }, async () => {
  await program.configure(sandboxConfig([{ host: node }]));
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.equal(await incomingPolicy(), "deny");
  // The program itself still gets in: a refresh reads every resource over SSH.
  assert.equal((await program.stack.refresh()).summary.result, "succeeded");
  assert.equal((await program.stack.destroy()).summary.result, "succeeded");
  assert.deepEqual(await hostState(node), original);
});
