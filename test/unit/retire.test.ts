import assert from "node:assert/strict";
import { createServer, AddressInfo, Server as TcpServer, Socket } from "node:net";
import { after, test } from "node:test";
import { Server, utils } from "ssh2";
import { HardeningError } from "../../providers/core/errors";
import { typeTokenOf } from "../../providers/core/shim";
import { judgeProbe, nextSteps, planRetirement, StateResource } from "../../providers/host/retire";
import { hostComponentType } from "../../providers/host/names";
import { clusterFirewall } from "../../providers/proxmox/provider";
import { probeHostKey } from "../../providers/ssh/probe";
import { fail2banReload } from "../../providers/fail2ban/provider";
import { hostSessionsFor } from "../../providers/ssh/credentials";

// Retiring a node: the plan over a stack's state (pure), the probe against an
// in-process sshd on loopback, and the way out that a failed delete names.

const connection = (name: string, address: string) => ({ name, address, port: 22, user: "root", hostKey: `SHA256:${"A".repeat(43)}`, connectTimeoutSeconds: 15, commandTimeoutSeconds: 300 });
const stackUrn = "urn:pulumi:prod::proxmox-hardening::";
const componentUrn = (host: string) => `${stackUrn}${hostComponentType}::${host}`;
const childUrn = (type: string, name: string) => `${stackUrn}${hostComponentType}$${type}::${name}`;

/** A stack's state as `pulumi stack export` orders it: each resource after what it refers to. */
function stateOf(hosts: { name: string; address: string; cluster?: string }[]): StateResource[] {
  const provider: StateResource = { urn: `${stackUrn}pulumi:providers:pulumi-nodejs::default`, type: "pulumi:providers:pulumi-nodejs" };
  const resources: StateResource[] = [provider, { urn: `${stackUrn}pulumi:pulumi:Stack::proxmox-hardening-prod`, type: "pulumi:pulumi:Stack" }];
  const managed = new Set<string>();
  for (const host of hosts) {
    const component = { urn: componentUrn(host.name), type: hostComponentType, parent: resources[1].urn };
    const child = (kind: Parameters<typeof typeTokenOf>[0], name: string, dependencies: string[] = [], inputs: Record<string, unknown> = {}) => {
      const resource = { urn: childUrn(typeTokenOf(kind), name), type: typeTokenOf(kind), parent: component.urn, dependencies, inputs: { connection: connection(host.name, host.address), ...inputs } };
      resources.push(resource);
      return resource.urn;
    };
    resources.push(component);
    const packages = child("host:Packages", `${host.name}-packages`);
    const cluster = host.cluster ?? host.name;
    const firewall = managed.has(cluster) ? undefined : child("proxmox:ClusterFirewall", `${cluster}-cluster-firewall`, [], { cluster });
    managed.add(cluster);
    const baseline = child("ufw:Baseline", `${host.name}-ufw-baseline`, [packages, ...(firewall ? [firewall] : [])]);
    const rule = child("ufw:Rule", `${host.name}-ufw-in-tcp-22`, [baseline]);
    child("ufw:Activation", `${host.name}-ufw-activation`, [rule]);
    const jail = child("fail2ban:Jail", `${host.name}-fail2ban-jail-sshd`, [packages]);
    child("fail2ban:Reload", `${host.name}-fail2ban-reload`, [jail]);
  }
  return resources;
}

const names = (urns: string[]) => urns.map((urn) => urn.slice(urn.lastIndexOf("::") + 2));
const two = [
  { name: "pve1", address: "192.0.2.10", cluster: "prod" },
  { name: "pve2", address: "192.0.2.11", cluster: "prod" },
];

test("a node's resources leave the state after their dependents, the component last; nothing of another node", () => {
  const plan = planRetirement(stateOf(two), "pve2", two);
  assert.deepEqual(names(plan.remove), ["pve2-fail2ban-reload", "pve2-fail2ban-jail-sshd", "pve2-ufw-activation", "pve2-ufw-in-tcp-22", "pve2-ufw-baseline", "pve2-packages", "pve2"]);
  assert.equal(plan.connection.address, "192.0.2.11", "the probe goes where the state connects");
  assert.equal(plan.handOver, undefined, "pve2 managed no cluster option");
});

test("the cluster option a retired node managed stays in state, with its component, when another member is configured", () => {
  const plan = planRetirement(stateOf(two), "pve1", two);
  assert.deepEqual(plan.handOver, { urn: childUrn(typeTokenOf("proxmox:ClusterFirewall"), "prod-cluster-firewall"), cluster: "prod", members: ["pve2"] });
  assert.ok(!plan.remove.includes(plan.handOver.urn), "the option is not removed");
  assert.ok(!plan.remove.includes(componentUrn("pve1")), "its parent stays until the next up re-parents it");
  assert.deepEqual(names(plan.remove).at(-1), "pve1-packages");
  // Alone in its cluster (or its cluster's other members no longer configured): it goes too.
  const alone = planRetirement(stateOf(two), "pve1", [two[0]]);
  assert.equal(alone.handOver, undefined);
  assert.deepEqual(names(alone.remove).slice(-3), ["prod-cluster-firewall", "pve1-packages", "pve1"]);
  const standalone = planRetirement(stateOf([{ name: "pve1", address: "192.0.2.10" }, { name: "pve2", address: "192.0.2.11" }]), "pve1", two);
  assert.equal(standalone.handOver, undefined, "a standalone node's option went with the node");
});

test("retire refuses a host that is not in the state, and one another node's resource depends on", () => {
  assert.throws(() => planRetirement(stateOf(two), "pve3", two), /host pve3 is not in the stack's state \(hosts there: pve1, pve2\)/);
  const tangled = stateOf(two);
  tangled.find((resource) => resource.urn.endsWith("::pve1-ufw-activation"))!.dependencies!.push(childUrn(typeTokenOf("ufw:Rule"), "pve2-ufw-in-tcp-22"));
  assert.throws(() => planRetirement(tangled, "pve2", two), /pve1-ufw-activation depends on .*pve2-ufw-in-tcp-22 of host pve2/);
});

test("the probe's verdict: the same key is refused, another key or no answer proceeds; the next steps name the exact commands", () => {
  const plan = planRetirement(stateOf(two), "pve1", two);
  const same = judgeProbe(plan, { kind: "same", fingerprint: "SHA256:old" });
  assert.equal(same.proceed, false);
  assert.match(!same.proceed ? same.message : "", /host pve1 answers at 192\.0\.2\.10:22 with its pinned key SHA256:old: it is not gone.*remove it from `hosts` and run `pulumi up`/);
  assert.equal(judgeProbe(plan, { kind: "no-answer", reason: "timed out" }).proceed, true);
  assert.equal(judgeProbe(plan, { kind: "other-key", fingerprint: "SHA256:new", keyLine: "ssh-ed25519 AAAA" }).proceed, true);

  const gone = nextSteps(plan, { kind: "no-answer", reason: "timed out" }, two, "prod");
  assert.match(gone[0], /pulumi config rm --path 'hosts\[0\]' -s prod/);
  assert.match(gone[1], /^pulumi up -s prod  \(connects to no pve1; run it before any refresh\)/);
  assert.match(gone[2], /cluster prod stays as it is; that up manages it through pve2 without switching the firewall back on/);
  const reinstalled = nextSteps(plan, { kind: "other-key", fingerprint: "SHA256:new", keyLine: "ssh-ed25519 AAAAnew" }, two, "prod");
  assert.match(reinstalled[0], /must print SHA256:new.*pulumi config set --path 'hosts\[0\]\.hostKey' 'ssh-ed25519 AAAAnew' -s prod/);
  assert.match(reinstalled[1], /hardens the new installation of pve1 from scratch/);
  assert.match(reinstalled[2], /manages it through pve1/, "a reinstalled first member manages its cluster's option again");
  assert.equal(nextSteps(plan, { kind: "no-answer", reason: "x" }, [two[1]], "prod")[0].startsWith("pulumi up -s prod"), true, "already out of the config: up is the next step");
});

test("the cluster option moving to another member of its cluster is an update there, never a delete through the old node", async () => {
  const outs = { connection: connection("pve1", "192.0.2.10"), label: "c", cluster: "prod", options: { enable: false }, previous: { enable: "1" } };
  const moved = await clusterFirewall.diff("id", outs, { connection: connection("pve2", "192.0.2.11"), label: "c", cluster: "prod", options: { enable: false } });
  assert.deepEqual([moved.changes, moved.replaces, moved.deleteBeforeReplace], [true, [], false]);
});

test("a delete that cannot reach the node names the way out next to today's advice", async () => {
  const props = { connection: { ...connection("pve9", "127.0.0.1"), port: await closedPort(), connectTimeoutSeconds: 2 }, label: "pve9-fail2ban-reload", configuration: "x", jails: [], restoreOnDestroy: "[]", previous: {} };
  const error = await fail2banReload.delete("id", props).then(
    () => assert.fail("the delete succeeded"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof HardeningError);
  assert.match(error.message, /\[host pve9, resource ssh root@127\.0\.0\.1:\d+\] could not open an SSH connection/);
  assert.match(error.message, /next: check that 127\.0\.0\.1:\d+ is reachable from this machine and sshd runs there.*; if pve9 is gone for good or was reinstalled: `npm run retire -- pve9`/);
  await hostSessionsFor({ get: () => undefined }).closeAll();
});

// ------------------------------------------------------------------ the probe, against loopback

const hostKey = utils.generateKeyPairSync("ed25519");
const otherKey = utils.generateKeyPairSync("ed25519");
let logins = 0;
const sshd = new Server({ hostKeys: [hostKey.private] }, (client) => {
  client.on("error", () => undefined);
  client.on("authentication", (ctx) => {
    logins++;
    ctx.reject();
  });
});
/** Accepts TCP and never says a word: a node whose sshd hangs. */
const silent: TcpServer = createServer((socket: Socket) => socket.on("error", () => undefined));
after(() => {
  sshd.close();
  silent.close();
});

const listen = (server: { listen: (port: number, host: string, cb: () => void) => unknown; address: () => unknown }) =>
  new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test("the probe tells the pinned key, another key and no answer apart, and never logs in", async () => {
  const port = await listen(sshd);
  const pinned = (key: string) => ({ address: "127.0.0.1", port, user: "root", hostKey: key });
  const same = await probeHostKey(pinned(hostKey.public), 5000);
  assert.equal(same.kind, "same");
  const other = await probeHostKey(pinned(otherKey.public), 5000);
  assert.equal(other.kind, "other-key");
  assert.equal(other.kind === "other-key" && other.keyLine, hostKey.public.trim().split(/\s+/).slice(0, 2).join(" "), "the key line it presented");
  assert.equal(logins, 0, "no authentication was attempted");
  const refused = await probeHostKey({ ...pinned(hostKey.public), port: await closedPort() }, 5000);
  assert.deepEqual([refused.kind, refused.kind === "no-answer" && /ECONNREFUSED/.test(refused.reason)], ["no-answer", true]);
  const started = Date.now();
  const hung = await probeHostKey({ ...pinned(hostKey.public), port: await listen(silent) }, 1000);
  assert.equal(hung.kind, "no-answer");
  assert.ok(Date.now() - started < 3000, "bounded by its timeout");
});
