import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { assertSandboxAddress, down, hostExec, Inventory, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 20 on the real engine: first contact with systemd-booted nodes of the releases where each
// point happens, with the README's default config. One Debian 12 node (Proxmox VE 8's base:
// fail2ban 1.0.2, journald only, so its fail2ban failed at boot) and one Debian 13 node (VE 9's:
// fail2ban 1.1.0, OpenSSH 10), both with bridge netfilter on, shared by every case in order.

let inventory: Inventory;
let deb12: SandboxHost;
let deb13: SandboxHost;
const original: Record<string, NodeFingerprint> = {};
const stacks: ProgramStack[] = [];

interface NodeFingerprint extends HostState {
  services: string;
  records: string;
}

/** What a refused up must leave as it was: files, ufw, the firewall option, services, our records. */
async function fingerprint(node: SandboxHost): Promise<NodeFingerprint> {
  return {
    ...(await hostState(node)),
    // is-active exits non-zero for a failed unit: the text is what counts.
    services: (await hostExec(node, "systemctl is-active fail2ban ufw ssh; systemctl is-enabled fail2ban ufw")).stdout,
    records: await run(node, "find /var/lib/proxmox-hardening 2>/dev/null | sort; true"),
  };
}

/**
 * The fingerprint as destroy promises it: fail2ban stopped again when it was not running. A unit
 * that failed at boot (Debian 12's) then reads "inactive" rather than "failed": both not running.
 */
const notRunningAlike = (print: NodeFingerprint): NodeFingerprint => ({ ...print, services: print.services.replace(/^failed$/gm, "inactive") });

before(async () => {
  await down();
  inventory = await up({ count: 0, nodes: [{ release: "bookworm" }, { release: "trixie" }] });
  [deb12, deb13] = inventory.hosts;
  for (const node of [deb12, deb13]) {
    // As wherever br_netfilter is loaded (the Proxmox firewall loads it): bridged guest frames pass iptables.
    await run(node, "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables");
    assert.equal((await run(node, "cat /proc/sys/net/bridge/bridge-nf-call-iptables")).trim(), "1", node.name);
    original[node.name] = await fingerprint(node);
  }
}, { timeout: 600_000 });

after(async () => {
  for (const stack of stacks) await stack.remove();
  await down();
}, { timeout: 600_000 });

/** The key line as the README says to take it, on the node's console: with Debian's comment. */
const pubFileLine = async (node: SandboxHost) => (await run(node, "cat /etc/ssh/ssh_host_ed25519_key.pub")).trim();

/** The key line as `ssh-keyscan -t ed25519 <address>` prints it, address first. */
async function keyscanLine(node: SandboxHost): Promise<string> {
  await assertSandboxAddress(node.address);
  const out = execFileSync("ssh-keyscan", ["-T", "10", "-t", "ed25519", node.address], { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "ignore"] });
  const line = out.split("\n").find((l) => l.startsWith(`${node.address} ssh-ed25519 `));
  assert.ok(line, `ssh-keyscan printed no ed25519 line for ${node.address}: ${out}`);
  return line;
}

/** Stack config for the nodes, each pinned with the given key line instead of the inventory's bare key. */
function configWithKeys(nodes: Array<[SandboxHost, string]>, settings: Record<string, unknown> = {}) {
  const config = sandboxConfig(nodes.map(([host]) => ({ host })), settings);
  return { ...config, hosts: config.hosts.map((host, i) => ({ ...host, hostKey: nodes[i][1] })) };
}

async function stackFor(name: string, config: ReturnType<typeof sandboxConfig>): Promise<ProgramStack> {
  const stack = await ProgramStack.create(`test-realnodes-${name}-${process.pid}`, config);
  stacks.push(stack);
  return stack;
}

/** The error of an up that must fail; its text holds the engine's output. */
async function failedUp(stack: ProgramStack, options: { continueOnError?: boolean } = {}): Promise<string> {
  try {
    await stack.stack.up(options);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail("up succeeded but must fail");
}

test("Debian 12: what only the node can tell refuses up before the first change, and the node is untouched", { timeout: 900_000 }, async () => {
  const node = deb12;
  // The node's corosync.conf lists a member this stack does not know (deb13's address), and SSH
  // is to be allowed only from an address this program does not connect from.
  const conf = `nodelist {\n  node {\n    name: ${node.name}\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: ${node.address}\n  }\n  node {\n    name: pvex\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: ${deb13.address}\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: lab\n  config_version: 2\n}\n`;
  await hostExec(node, "cat > /etc/pve/corosync.conf", { input: conf });
  try {
    const before_ = await fingerprint(node);
    const outsider = deb13.address;
    const rules = [{ action: "allow", protocol: "tcp", port: 22, from: outsider, comment: "admins" }, { action: "allow", protocol: "tcp", port: 8006 }];
    // The README's key line, comment and all (issue 20.1).
    const stack = await stackFor("refused", configWithKeys([[node, await pubFileLine(node)]], { ufw: { rules } }));
    stack.sshActivity();
    assert.ok((await stack.stack.preview()).changeSummary.create, "preview passes: it opens no connection");
    assert.deepEqual(stack.sshActivity(), { connections: 0, commands: 0 });
    const message = await failedUp(stack);
    assert.match(message, new RegExp(`\\[host ${node.name}, resource host:Preflight ${node.name}-preflight, field ufw\\.rules, ufw\\.clusterTraffic\\] refused before the first change on this host, so nothing was changed on it`));
    const machine = inventory.network.machineAddress.replace(/\./g, "\\.");
    assert.match(message, new RegExp(`ufw\\.rules: this program's SSH connection comes from ${machine} \\(as the host sees it, connected to ${node.address.replace(/\./g, "\\.")} port 22\\)`));
    assert.match(message, new RegExp(`ufw\\.clusterTraffic: ufw on ${node.name} would split cluster lab \\(members ${node.name}, pvex\\): 5405-5412/udp from pvex`));
    // One connection, one command: the preflight's read, and nothing else ran.
    assert.deepEqual(stack.sshActivity(), { connections: 1, commands: 1 });
    assert.deepEqual(await fingerprint(node), before_, "the node is exactly as before");
    await stack.remove();
  } finally {
    await run(node, "rm -f /etc/pve/corosync.conf");
  }
  assert.deepEqual(await fingerprint(node), original[node.name]);
});

test("the README's default config hardens both releases: key lines as printed, the filter check on fail2ban 1.0.2 and 1.1.0, guests' routed traffic kept, Debian 12's failed fail2ban fixed and told so", { timeout: 900_000 }, async () => {
  assert.match(await run(deb12, "dpkg-query -W -f='${Version}' fail2ban"), /^1\.0\.2-/);
  assert.match(await run(deb13, "dpkg-query -W -f='${Version}' fail2ban"), /^1\.1\.0-/);
  assert.equal((await hostExec(deb12, "systemctl is-active fail2ban")).stdout.trim(), "failed", "Debian 12's stock sshd jail failed at boot");
  // Each release pinned with each form of key line: the .pub file's and ssh-keyscan's.
  const stack = await stackFor("default", configWithKeys([[deb12, await keyscanLine(deb12)], [deb13, await pubFileLine(deb13)]]));
  const result = await stack.stack.up();
  assert.equal(result.summary.result, "succeeded");
  for (const node of [deb12, deb13]) {
    const status = await run(node, "ufw status verbose");
    assert.match(status, /^Status: active$/m, node.name);
    assert.match(status, /^Default: deny \(incoming\), allow \(outgoing\)/m, node.name);
    // Bridge netfilter on: the FORWARD chain bridged guests pass keeps accepting.
    assert.match(await run(node, "cat /etc/default/ufw"), /^DEFAULT_FORWARD_POLICY="ACCEPT"$/m, node.name);
    assert.match(await run(node, "iptables -S FORWARD"), /^-P FORWARD ACCEPT$/m, node.name);
    // The filter passed its sample check with this release's fail2ban-regex and its jail runs.
    assert.match(await run(node, "cat /etc/fail2ban/filter.d/proxmox.conf"), /pvedaemon/, node.name);
    const jails = await run(node, "fail2ban-client status");
    assert.match(jails, /Jail list:\s+.*\bproxmox\b/, node.name);
    assert.match(jails, /Jail list:\s+.*\bsshd\b/, node.name);
    assert.equal((await run(node, "systemctl is-active fail2ban")).trim(), "active", node.name);
  }
  // Debian 12's fail2ban failed before the run: said plainly, and that it was fixed.
  const said = result.stdout;
  assert.match(said, new RegExp(`\\[${deb12.name}\\] fail2ban's configuration as found on the host fails its own test \\(fail2ban-client -t\\), so fail2ban cannot start: .*sshd`));
  assert.match(said, new RegExp(`\\[${deb12.name}\\] fixed: fail2ban's configuration failed its own test before this run .* it passes, and fail2ban was started with the jails sshd, proxmox`));
  assert.doesNotMatch(said, /already failed its test before this change/);
  assert.doesNotMatch(said, new RegExp(`\\[${deb13.name}\\] fixed:`), "nothing to fix on Debian 13, whose fail2ban ran");
  assert.equal((await stack.stack.destroy()).summary.result, "succeeded");
  for (const node of [deb12, deb13]) assert.deepEqual(notRunningAlike(await fingerprint(node)), notRunningAlike(original[node.name]), node.name);
  await stack.remove();
});

test("up --continue-on-error with one failing resource on a node: the program does not crash and the rest applies", { timeout: 900_000 }, async () => {
  const [healthy, failing] = [deb12, deb13];
  // The filter's sample check fails on this node only: its fail2ban-regex cannot run (a bind
  // mount inside the node's own mount namespace, undone below).
  await run(failing, "mount --bind /dev/null /usr/bin/fail2ban-regex");
  try {
    const stack = await stackFor("continue", sandboxConfig([{ host: healthy }, { host: failing }]));
    const message = await failedUp(stack, { continueOnError: true });
    assert.match(message, new RegExp(`\\[host ${failing.name}, resource fail2ban:Filter ${failing.name}-fail2ban-filter-proxmox, field filter.samples\\]`));
    assert.doesNotMatch(message, /error serializing property|failed to register|unhandled/i, "the program itself did not fail");
    // The rest applied: the healthy node completely, on the failing node everything that did not need the filter.
    assert.match(await run(healthy, "fail2ban-client status"), /Jail list:\s+.*\bproxmox\b/);
    for (const host of [healthy, failing]) {
      assert.match(await run(host, "ufw status"), /^Status: active$/m, host.name);
      assert.equal(JSON.parse(await run(host, "pvesh get /cluster/firewall/options --output-format json")).enable, 0, host.name);
    }
    assert.match(await run(failing, "cat /etc/fail2ban/jail.d/proxmox-hardening-defaults.local"), /^bantime = 3600$/m);
    assert.equal((await run(failing, "ls /etc/fail2ban/filter.d")).split("\n").includes("proxmox.conf"), false, "the filter was not installed");
    // What needs the filter was skipped: no jail written, fail2ban not reloaded with half a configuration.
    assert.doesNotMatch(await run(failing, "ls /etc/fail2ban/jail.d"), /proxmox-hardening-jail-/);
    assert.equal((await stack.stack.destroy()).summary.result, "succeeded");
    await stack.remove();
  } finally {
    await run(failing, "umount /usr/bin/fail2ban-regex");
  }
  for (const node of [healthy, failing]) assert.deepEqual(notRunningAlike(await fingerprint(node)), notRunningAlike(original[node.name]), node.name);
});
