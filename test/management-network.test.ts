import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { addClient, assertSandboxAddress, clientExec, down, Inventory, SandboxClient, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { parseStatusVerbose } from "./support/ufw-status";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 14.2: SSH allowed only from a management network. The program's own
// connection comes from the machine's sandbox address; the node sees it in
// $SSH_CONNECTION and judges the rules for exactly that source before the
// first change on the node (and again before switching ufw on). Effects are checked as a user would: ufw's state, and
// whether a TCP connection to port 22 really gets through from each side. On a systemd node of
// each release (Debian 13 for Proxmox VE 9, Debian 12 for 8): sshd sets $SSH_CONNECTION on both.

let inventory: Inventory;
let nodes: SandboxHost[];
let outsider: SandboxClient;
let program: ProgramStack;
const original: Record<string, HostState> = {};

const all = () => nodes.map((host) => ({ host }));
const dots = (address: string) => address.replace(/\./g, "\\.");
const webUi = { action: "allow", protocol: "tcp", port: 8006, comment: "proxmox web ui" };

/** Whether a TCP connection from the client to the host's SSH port opens (bounded by nc's timeout). */
async function sshReachableFrom(client: SandboxClient, host: SandboxHost): Promise<boolean> {
  await assertSandboxAddress(host.address);
  const result = await clientExec(client, `nc -z -w 3 ${host.address} 22`, { timeoutMs: 10_000 });
  return result.code === 0;
}

before(async () => {
  await down();
  inventory = await up({ count: 0, nodes: [{ release: "trixie" }, { release: "bookworm" }] });
  nodes = inventory.hosts;
  outsider = await addClient("outsider");
  for (const node of nodes) {
    original[node.name] = await hostState(node);
    assert.equal(await sshReachableFrom(outsider, node), true, `the probe works on an open host (${node.name})`);
  }
  program = await ProgramStack.create(`test-mgmt-${process.pid}`, sandboxConfig(all()));
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("SSH from a network the program is not in: preview passes and says what it will check, up refuses before the first change on the node", { timeout: 600_000 }, async () => {
  // The outsider's address as a /32: a management network this machine is not part of.
  const rules = [{ action: "allow", protocol: "tcp", port: 22, from: outsider.address, comment: "admins" }, webUi];
  await program.configure(sandboxConfig(all(), { ufw: { rules } }));
  const preview = await program.stack.preview();
  for (const node of nodes) assert.match(preview.stdout, new RegExp(`${node.name}: SSH \\(tcp port 22\\) will be allowed only from ${dots(outsider.address)}; before the first change on the host, the program checks there`));
  await assert.rejects(program.stack.up(), (error: Error) => {
    assert.match(error.message, /refused before the first change on this host, so nothing was changed on it:\n +ufw\.rules: this program's SSH connection/);
    for (const node of nodes) {
      assert.match(error.message, new RegExp(`comes from ${dots(inventory.network.machineAddress)} \\(as the host sees it, connected to ${dots(node.address)} port 22\\)`), node.name);
    }
    return true;
  });
  for (const node of nodes) assert.deepEqual(await hostState(node), original[node.name], `${node.name} untouched`);
});

test("SSH only from the program's network: ufw is on, the program keeps its access, others are shut out", { timeout: 600_000 }, async () => {
  const rules = [{ action: "allow", protocol: "tcp", port: 22, from: `${inventory.network.machineAddress}`, comment: "management" }, webUi];
  await program.configure(sandboxConfig(all(), { ufw: { rules } }));
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  for (const node of nodes) {
    assert.match(await run(node, "ufw status verbose"), /^Status: active$/m, node.name);
    assert.equal(await sshReachableFrom(outsider, node), false, `SSH from outside the management network is dropped (${node.name})`);
  }
  // The program itself still gets in: a refresh reads every resource over SSH.
  const refreshed = await program.stack.refresh();
  assert.equal(refreshed.summary.result, "succeeded");
});

test("ufw on, SSH moved to a network the program is not in: the rule that lets the program in is not deleted, and it still gets in", { timeout: 600_000 }, async () => {
  const machine = inventory.network.machineAddress;
  const management = { action: "allow", protocol: "tcp", port: 22, from: machine, comment: "management" };
  const admins = { action: "allow", protocol: "tcp", port: 22, from: outsider.address, comment: "admins" };
  await program.configure(sandboxConfig(all(), { ufw: { rules: [admins, webUi] } }));
  await assert.rejects(program.stack.up(), (error: Error) => {
    for (const node of nodes) {
      assert.match(
        error.message,
        new RegExp(
          `ufw rule allow in proto tcp from ${dots(machine)} to any port 22 comment management was not deleted: ufw is on, and this program's SSH connection comes from ${dots(machine)} \\(as the host sees it, connected to ${dots(node.address)} port 22\\)`,
        ),
        node.name,
      );
    }
    return true;
  });
  const sshRules = async (node: SandboxHost) => parseStatusVerbose(await run(node, "ufw status verbose")).rules.filter((rule) => rule.to === "22/tcp").map(({ action, from, comment }) => ({ action, from, comment }));
  for (const node of nodes) {
    assert.deepEqual(await sshRules(node), [{ action: "allow", from: machine, comment: "management" }, { action: "allow", from: outsider.address, comment: "admins" }], `the rule that lets the program in stays, the one asked for is added (${node.name})`);
  }
  assert.equal((await program.stack.refresh()).summary.result, "succeeded", "the program still gets in");
  // With the program's network kept in the rules, the next up takes the other rule away.
  await program.configure(sandboxConfig(all(), { ufw: { rules: [management, webUi] } }));
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  for (const node of nodes) assert.deepEqual(await sshRules(node), [{ action: "allow", from: machine, comment: "management" }], node.name);
});

test("destroy puts each node back exactly as it was", { timeout: 600_000 }, async () => {
  await program.stack.destroy();
  for (const node of nodes) {
    assert.deepEqual(await hostState(node), original[node.name], node.name);
    assert.equal(await sshReachableFrom(outsider, node), true, node.name);
  }
});
