import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertSandboxAddress, down, hostExec, Inventory, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { parseStatusVerbose } from "./support/ufw-status";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 14.1: the program never splits a Proxmox cluster. Preview refuses a
// cluster whose members' corosync traffic the planned rules would cut, and
// before the first change on a node (and again before switching ufw on), the node's own
// /etc/pve/corosync.conf is read, so a member this stack does not manage counts too. Effects are checked on the
// hosts: ufw's state, and UDP datagrams that really do or do not arrive. Once ufw is on, taking
// the cluster's rule away is refused at the rule's delete.

let inventory: Inventory;
let pve1: SandboxHost;
let pve2: SandboxHost;
let program: ProgramStack;
let original: HostState;

/** corosync.conf as `pvecm create` / `pvecm add` write it, for the given members. */
function corosyncConf(members: SandboxHost[]): string {
  const nodes = members.map((host, i) => `  node {\n    name: ${host.name}\n    nodeid: ${i + 1}\n    quorum_votes: 1\n    ring0_addr: ${host.address}\n  }\n`).join("");
  return `logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n${nodes}}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab\n  config_version: ${members.length}\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n`;
}

/** Whether one UDP datagram from `from` reaches `to` on `port` (a listener on `to` that takes one datagram, bounded). */
async function udpArrives(from: SandboxHost, to: SandboxHost, port: number): Promise<boolean> {
  await assertSandboxAddress(to.address);
  const marker = `corosync-probe-${port}-${Date.now()}`;
  const listener = hostExec(to, `timeout 4 nc -u -l -W 1 ${port}`, { timeoutMs: 10_000 });
  // Give the listener a moment to bind, then send a few datagrams (UDP may drop the first).
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sent = await hostExec(from, `for i in 1 2 3; do echo ${marker} | nc -u -w 1 ${to.address} ${port}; sleep 0.3; done`, { timeoutMs: 10_000 });
  assert.equal(sent.code, 0, `${from.name}: sending to ${to.address}:${port} failed: ${sent.stderr}`);
  const received = await listener;
  return received.stdout.includes(marker);
}

before(async () => {
  await down();
  // Namespace hosts: preview's refusal and the preflight's corosync.conf check are release-independent logic; cluster-nodes.test.ts runs a real cluster on nodes of both releases.
  inventory = await up({ count: 2, modes: ["journald", "journald"] });
  [pve1, pve2] = inventory.hosts;
  // Both nodes believe they are one cluster; only pve1 is in the stack at first.
  for (const host of [pve1, pve2]) await hostExec(host, `mkdir -p /etc/pve && cat > /etc/pve/corosync.conf`, { input: corosyncConf([pve1, pve2]) });
  original = await hostState(pve1);
  // The probe itself must work: with no firewall, corosync's port is reachable.
  assert.equal(await udpArrives(pve2, pve1, 5405), true, "UDP probe on an open host");
  program = await ProgramStack.create(`test-cluster-${process.pid}`, sandboxConfig([{ host: pve1, cluster: "lab" }]));
}, { timeout: 900_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("preview refuses a listed cluster whose corosync the rules would cut, and touches no host", { timeout: 300_000 }, async () => {
  await program.configure(sandboxConfig([{ host: pve1, cluster: "lab" }, { host: pve2, cluster: "lab" }]));
  await assert.rejects(program.stack.preview(), (error: Error) => {
    assert.match(error.message, /ufw on pve1 would split cluster lab \(members pve1, pve2\)/);
    assert.match(error.message, new RegExp(`5405-5412/udp from pve2 \\(${pve2.address.replace(/\./g, "\\.")}\\) would be cut`));
    assert.match(error.message, /clusterTraffic/);
    return true;
  });
  assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 });
  assert.deepEqual(await hostState(pve1), original);
});

test("a member only the node's corosync.conf knows is refused before the first change on the node", { timeout: 600_000 }, async () => {
  await program.configure(sandboxConfig([{ host: pve1, cluster: "lab" }]));
  await assert.rejects(program.stack.up(), (error: Error) => {
    assert.match(error.message, /refused before the first change on this host, so nothing was changed on it:\n +ufw\.clusterTraffic: ufw on pve1 would split cluster lab \(members pve1, pve2\)/);
    assert.match(error.message, new RegExp(`from pve2 \\(${pve2.address.replace(/\./g, "\\.")}\\)`));
    assert.match(error.message, /\/etc\/pve\/corosync\.conf/);
    return true;
  });
  assert.deepEqual(await hostState(pve1), original, "pve1 untouched");
  assert.equal(await udpArrives(pve2, pve1, 5405), true, "corosync still reaches pve1");
});

test("with the cluster rules, ufw is on, corosync passes between the nodes and nothing else does", { timeout: 600_000 }, async () => {
  const network = inventory.network.ipv4;
  await program.configure(sandboxConfig([{ host: pve1, cluster: "lab" }], { ufw: { clusterTraffic: { network } } }));
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  const status = await run(pve1, "ufw status verbose");
  assert.match(status, /^Status: active$/m);
  assert.match(status, new RegExp(`^5405:5412/udp +ALLOW IN +${network.replace(/\./g, "\\.")}`, "m"));
  assert.equal(await udpArrives(pve2, pve1, 5405), true, "corosync link 0");
  assert.equal(await udpArrives(pve2, pve1, 5412), true, "corosync link 7");
  assert.equal(await udpArrives(pve2, pve1, 5413), false, "a port nobody asked for stays closed");
});

test("re-addressing a node (same host key) is an update in place that runs nothing on it", { timeout: 600_000 }, async () => {
  const hardened = await hostState(pve1);
  const config = sandboxConfig([{ host: pve1, cluster: "lab" }], { ufw: { clusterTraffic: { network: inventory.network.ipv4 } } });
  await program.configure({ ...config, hosts: config.hosts.map((host) => ({ ...host, address: pve1.address6 })) });
  program.sshActivity();
  const preview = await program.stack.preview();
  assert.equal(preview.changeSummary.replace ?? 0, 0, "nothing is replaced");
  assert.equal(preview.changeSummary.delete ?? 0, 0, "nothing is deleted");
  assert.ok((preview.changeSummary.update ?? 0) >= 10, `every resource of pve1 takes the new address: ${JSON.stringify(preview.changeSummary)}`);
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 }, "the update ran nothing on the node");
  assert.deepEqual(await hostState(pve1), hardened);
  // The new address really is used from now on: a refresh reads every resource through it.
  assert.equal((await program.stack.refresh()).summary.result, "succeeded");
  assert.equal(program.sshActivity().connections, 1);
});

test("switching the cluster traffic off on a node where ufw is on: the corosync rule is not deleted, the others are, and corosync still passes", { timeout: 600_000 }, async () => {
  const config = sandboxConfig([{ host: pve1, cluster: "lab" }]);
  await program.configure({ ...config, hosts: config.hosts.map((host) => ({ ...host, address: pve1.address6 })) });
  await assert.rejects(program.stack.up(), (error: Error) => {
    assert.match(error.message, /ufw rule allow in proto udp from \S+ to any port 5405:5412 .*was not deleted: ufw is on, and ufw on pve1 would split cluster lab \(members pve1, pve2\)/);
    assert.match(error.message, new RegExp(`from pve2 \\(${pve2.address.replace(/\./g, "\\.")}\\)`));
    return true;
  });
  const rules = parseStatusVerbose(await run(pve1, "ufw status verbose")).rules.filter((rule) => !rule.v6).map((rule) => `${rule.to} ${rule.comment}`);
  assert.deepEqual(rules, ["22/tcp ssh", "8006/tcp proxmox web ui", "5405:5412/udp proxmox corosync"], "only the rule corosync needs stays of the cluster's (migration, consoles: gone as asked)");
  assert.equal(await udpArrives(pve2, pve1, 5405), true, "corosync still reaches pve1");
});

test("destroy puts the node back exactly as it was", { timeout: 600_000 }, async () => {
  await program.stack.destroy();
  assert.deepEqual(await hostState(pve1), original);
  assert.equal(await udpArrives(pve2, pve1, 5413), true, "ufw is off again");
});
