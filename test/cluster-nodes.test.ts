import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { down, reboot, SandboxHost, up } from "../sandbox";
import { pollUntil } from "../sandbox/attack";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 14.1's proof on systemd-booted nodes of one cluster (shared /etc/pve, a corosync
// stand-in that exchanges UDP 5405 and reports quorum as `pvecm status` does): the program
// never splits the cluster. A config without the cluster rules is refused before any node is
// touched; with them, the cluster keeps quorum through `up`, a reboot of one node (which comes
// back behind its own firewall, where only the rules let its peers' corosync in) and `destroy`.
// A cluster in the middle of an upgrade from Proxmox VE 8 to 9: Debian 13 and 12 nodes together.

let nodes: SandboxHost[];
let network: string;
let program: ProgramStack;
const original: Record<string, HostState> = {};
// Bridge netfilter is on in the nodes; the routed policy is left as the README advises for that.
const settings = () => ({ ufw: { defaults: { routed: "allow" }, clusterTraffic: { network } } });
const members = () => nodes.map((host) => ({ host, cluster: "pve-test" }));

/** Every node reports quorum with all three votes, within a bounded time. */
async function assertQuorate(when: string): Promise<void> {
  for (const node of nodes) {
    const quorate = await pollUntil(30_000, async () => {
      const status = await run(node, "pvecm status").catch(() => "");
      return /^Quorate: +Yes$/m.test(status) && /^Total votes: +3$/m.test(status);
    }, 500);
    assert.ok(quorate, `${node.name} quorate with 3 votes ${when}:\n${await run(node, "pvecm status").catch((e: Error) => e.message)}`);
  }
}

before(async () => {
  await down();
  const inventory = await up({ count: 0, nodes: (["trixie", "bookworm", "trixie"] as const).map((release) => ({ release, cluster: "pve-test" })) });
  nodes = inventory.hosts;
  network = inventory.network.ipv4;
  await assertQuorate("before anything");
  for (const node of nodes) original[node.name] = await hostState(node);
  program = await ProgramStack.create(`test-cluster-nodes-${process.pid}`, sandboxConfig(members()));
}, { timeout: 600_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("the cluster without rules for corosync is refused at preview, and no node is touched", { timeout: 300_000 }, async () => {
  await program.configure(sandboxConfig(members(), { ufw: { defaults: { routed: "allow" } } }));
  await assert.rejects(program.stack.preview(), /ufw on pve1 would split cluster pve-test \(members pve1, pve2, pve3\): 5405-5412\/udp from pve2/);
  await assert.rejects(program.stack.up(), /would split cluster pve-test/);
  assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 });
  for (const node of nodes) assert.deepEqual(await hostState(node), original[node.name], node.name);
  await assertQuorate("after the refusal");
});

test("with the cluster rules, up hardens every node and the cluster keeps quorum", { timeout: 900_000 }, async () => {
  await program.configure(sandboxConfig(members(), settings()));
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  for (const node of nodes) {
    const status = await run(node, "ufw status verbose");
    assert.match(status, /^Status: active$/m, node.name);
    assert.match(status, new RegExp(`^5405:5412/udp +ALLOW IN +${network.replace(/\./g, "\\.")}`, "m"), node.name);
  }
  await assertQuorate("after up");
});

test("a node rebooted behind its firewall rejoins: the rules, not old connections, let corosync in", { timeout: 600_000 }, async () => {
  const rebooted = await reboot(nodes[2]);
  nodes[2] = rebooted;
  assert.match(await run(rebooted, "ufw status"), /^Status: active$/m);
  await assertQuorate("after pve3's reboot");
});

test("destroy restores every node exactly, and the cluster keeps quorum", { timeout: 900_000 }, async () => {
  const result = await program.stack.destroy();
  assert.equal(result.summary.result, "succeeded");
  for (const node of nodes) assert.deepEqual(await hostState(node), original[node.name], node.name);
  await assertQuorate("after destroy");
});
