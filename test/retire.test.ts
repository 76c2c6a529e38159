import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { down, readInventory, SandboxHost, up } from "../sandbox";
import { engineEnv, repoRoot } from "../scripts/engine";
import { changedFiles, count, effectiveRules, fingerprint, HostFingerprint, mustFail, startSshd, stopSshd, takeEvents } from "./support/faults";
import { run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 19 on the real engine and two sandbox hosts of one cluster: pve1 (which manages the
// cluster's firewall option) is cut off for good; the operator follows README "Retiring or
// replacing a node": `npm run retire -- pve1`, pve1 out of `hosts`, `pulumi up`. That up must
// not try pve1 once, must leave pve2 as it was, and a later destroy must restore pve2 exactly.

const execFileAsync = promisify(execFile);
const CONNECT_TIMEOUT = 4;
const CLUSTER = "lab";
/** Marks the counting rule in the dead node's raw table: every TCP SYN that reaches it. */
const SYN_COUNTER = "rt-dead-syn";

let pve1: SandboxHost;
let pve2: SandboxHost;
let program: ProgramStack;
let original2: HostFingerprint & { jails: string };
let hardened2: HostFingerprint & { jails: string };

const stackName = `test-retire-${process.pid}`;
const configFor = (hosts: SandboxHost[]) => {
  // One cluster: corosync between its nodes stays allowed (preview refuses a cluster it would split).
  const config = sandboxConfig(hosts.map((host) => ({ host, cluster: CLUSTER })), { ufw: { clusterTraffic: { network: readInventory().network.ipv4 } } });
  for (const entry of config.hosts) Object.assign(entry, { connectTimeoutSeconds: CONNECT_TIMEOUT });
  return config;
};

/** What the check compares on the healthy node: files, ufw, Proxmox options, ruleset, and fail2ban's jails. */
async function state(host: SandboxHost) {
  return { ...(await fingerprint(host)), jails: await run(host, "fail2ban-client status") };
}

/** SYNs that reached the dead node since it was cut, counted inside its own network namespace. */
async function synsAtDeadNode(): Promise<number> {
  const out = await run(pve1, `for t in iptables ip6tables; do $t -t raw -L PREROUTING -v -n -x; done | awk '/${SYN_COUNTER}/ {n += $1} END {print n + 0}'`);
  return Number(out.trim());
}

/** The retire command exactly as README documents it, run as the operator would. */
async function retire(host: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync("npm", ["run", "--silent", "retire", "--", host, "-s", stackName], { cwd: repoRoot, env: { ...process.env, ...engineEnv() }, timeout: 300_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

async function resourcesInState(): Promise<{ urn: string; inputs?: { connection?: { name?: string } } }[]> {
  const exported = await program.stack.exportStack();
  return exported.deployment.resources ?? [];
}

before(async () => {
  await down();
  // Namespace hosts: retiring edits the state and probes one key exchange, the same on both releases; a node adds only its boot.
  [pve1, pve2] = (await up({ count: 2 })).hosts;
  original2 = await state(pve2);
  program = await ProgramStack.create(stackName, configFor([pve1, pve2]));
}, { timeout: 600_000 });

after(async () => {
  // pve1 is cut off: destroy cannot reach it, and a stack rm --force leaves the hosts as they are.
  await program?.forget().catch(() => undefined);
  await down();
}, { timeout: 600_000 });

test("two nodes hardened; pve1, still answering with its pinned key, is refused by retire", { timeout: 600_000 }, async () => {
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  takeEvents(program.metricsFile);
  // One cluster shares /etc/pve (pmxcfs); the sandbox does not model that, so pve2 gets the copy
  // of the cluster's firewall file that pmxcfs would show it.
  await run(pve2, `mkdir -p /etc/pve/firewall && printf '%s' '${await run(pve1, "cat /etc/pve/firewall/cluster.fw")}' > /etc/pve/firewall/cluster.fw`);
  hardened2 = await state(pve2);
  assert.equal(hardened2.pveshOptions.enable, 0, "the cluster firewall is off");

  const before_ = await resourcesInState();
  const refused = await retire("pve1");
  assert.notEqual(refused.code, 0, refused.output);
  assert.match(refused.output, /host pve1 answers at \S+:22 with its pinned key SHA256:\S+: it is not gone, so it is not retired \(the state is unchanged\)/);
  assert.deepEqual(await resourcesInState(), before_, "state unchanged");
});

test("pve1 cut off for good: its delete fails naming the way out; retire takes its resources out of the state", { timeout: 600_000 }, async () => {
  // Every packet into pve1 is dropped in its own namespace, after a rule that only counts SYNs.
  for (const table of ["iptables", "ip6tables"]) {
    await run(pve1, `${table} -t raw -I PREROUTING 1 -j DROP && ${table} -t raw -I PREROUTING 1 -p tcp --syn -m comment --comment ${SYN_COUNTER}`);
  }
  assert.equal(await synsAtDeadNode(), 0);

  // What the operator tried first (the issue): pve1 out of `hosts`, then up. Only the delete of
  // one of its resources is targeted, so that the cluster option is still pve1's for retire.
  await program.configure(configFor([pve2]));
  const reload = (await resourcesInState()).find((resource) => resource.urn.endsWith("::pve1-fail2ban-reload"))!.urn;
  const { text } = await mustFail("up that deletes a resource of the cut-off pve1", () => program.stack.up({ target: [reload] }));
  assert.match(text, /\[host pve1, resource ssh root@\S+:22\] could not open an SSH connection after \d attempts? in \d+\.\d s \(connectTimeoutSeconds=4\)/);
  assert.match(text, /next: check that \S+:22 is reachable from this machine and sshd runs there[^\n]*; if pve1 is gone for good or was reinstalled: `npm run retire -- pve1` \(add `-s <stack>` as for pulumi\) takes its resources out of the state without connecting to it/);
  assert.ok((await synsAtDeadNode()) >= 1, "the failed delete's SYNs reached the dead node's counter (so the counter sees attempts)");
  takeEvents(program.metricsFile);

  const synsBeforeRetire = await synsAtDeadNode();
  const ofPve1 = (resources: Awaited<ReturnType<typeof resourcesInState>>) => resources.filter((resource) => resource.urn.includes("::pve1") || resource.inputs?.connection?.name === "pve1");
  const pve1Before = ofPve1(await resourcesInState()).length;
  const retired = await retire("pve1");
  assert.equal(retired.code, 0, retired.output);
  assert.match(retired.output, /no SSH answer from \S+:22: .*: retiring pve1 from stack/);
  assert.match(retired.output, new RegExp(`kept in state for cluster ${CLUSTER}: \\S+::${CLUSTER}-cluster-firewall`));
  const removed = Number(/(\d+) resources of pve1 left the state; no command ran on the node and no credential was offered to it/.exec(retired.output)?.[1]);
  assert.match(retired.output, new RegExp(`1\\. pulumi up -s ${stackName}  \\(connects to no pve1; run it before any refresh\\)`));
  assert.match(retired.output, /manages it through pve2 without switching the firewall back on/);
  assert.ok((await synsAtDeadNode()) > synsBeforeRetire, "retire probed pve1 (once, bounded)");
  assert.equal(count(takeEvents(program.metricsFile), "connect"), 0, "the providers made no connection");

  const left = ofPve1(await resourcesInState());
  assert.equal(removed, pve1Before - left.length, "the count retire reports is what left the state");
  // The kept cluster option refers to its parent component and to pve1's preflight until the next up.
  assert.deepEqual(left.map((resource) => resource.urn.slice(resource.urn.lastIndexOf("::") + 2)).sort(), [`${CLUSTER}-cluster-firewall`, "pve1", "pve1-preflight"], "only the cluster option and what it refers to stay");
});

test("the next up (retire's step 1) makes no connection attempt to pve1 and leaves pve2 untouched; destroy restores pve2 exactly", { timeout: 600_000 }, async () => {
  const synsBefore = await synsAtDeadNode();
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  const events = takeEvents(program.metricsFile);
  assert.deepEqual(events.filter((event) => event.host === "pve1"), [], "the providers did not try pve1");
  assert.equal(await synsAtDeadNode(), synsBefore, "no SYN reached pve1");
  // The cluster option moves to pve2 with unchanged options: an update that runs nothing (it lives in
  // the cluster's shared /etc/pve, and the next connection checks pve2's key).
  assert.equal(count(events, "connect"), 0, "no connection at all: nothing on any node needs changing");
  const now2 = await state(pve2);
  assert.deepEqual(changedFiles(hardened2, now2), [], "pve2's files");
  assert.equal(now2.ufwStatus, hardened2.ufwStatus, "pve2's ufw");
  assert.deepEqual(now2.ruleset, hardened2.ruleset, "pve2's ruleset");
  assert.equal(now2.jails, hardened2.jails, "pve2's jails");
  assert.deepEqual(now2.pveshOptions, hardened2.pveshOptions, "the cluster firewall stays off");
  const firewall = (await resourcesInState()).find((resource) => resource.urn.endsWith(`::${CLUSTER}-cluster-firewall`));
  assert.equal(firewall?.inputs?.connection?.name, "pve2", "the cluster option is managed through pve2");
  assert.equal((await resourcesInState()).filter((resource) => resource.urn.endsWith("::pve1")).length, 0, "pve1's component is gone");

  const again = await program.stack.up();
  assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"], "a second up changes nothing");

  const destroyed = await program.stack.destroy();
  assert.equal(destroyed.summary.result, "succeeded");
  assert.deepEqual(takeEvents(program.metricsFile).filter((event) => event.host === "pve1"), [], "destroy did not try pve1 either");
  assert.equal(await synsAtDeadNode(), synsBefore, "no SYN reached pve1 during destroy");
  const restored = await state(pve2);
  assert.deepEqual(changedFiles(original2, restored), [], "pve2's files as before the first up");
  assert.equal(restored.ufwStatus, original2.ufwStatus);
  assert.deepEqual(restored.pveshOptions, original2.pveshOptions);
  assert.equal(restored.jails, original2.jails);
  // `ufw disable` leaves its emptied chains until the next boot, as on any host: compare what filters.
  for (const family of ["v4", "v6"] as const) assert.deepEqual(effectiveRules(restored.ruleset[family]), effectiveRules(original2.ruleset[family]), `pve2's ${family} ruleset filters as before`);
  assert.deepEqual(restored.leftovers, []);
});

test("a reinstalled node: its new key pinned alone is refused; retire, pin the new key, up hardens the new installation; destroy restores it, not the old one", { timeout: 600_000 }, async () => {
  // The old installation had the Proxmox firewall switched on; the new one (what pve2 is now,
  // kept aside to put back) has nothing of ours and the option unset.
  await run(pve2, "tar -C / -cf /root/rt-install.tar etc/ufw etc/default/ufw etc/fail2ban etc/pve");
  await run(pve2, "pvesh set /cluster/firewall/options --enable 1");
  await program.configure(configFor([pve2]));
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.equal((await state(pve2)).pveshOptions.enable, 0);

  // The reinstall: our changes (and our records of what was there before them) gone with the old system, a new host key.
  await run(pve2, "fail2ban-client stop >/dev/null 2>&1; ufw disable >/dev/null; rm -rf /etc/ufw /etc/default/ufw /etc/fail2ban /etc/pve /var/lib/proxmox-hardening && tar -C / -xf /root/rt-install.tar && fail2ban-client start >/dev/null");
  await run(pve2, "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key");
  await stopSshd(pve2);
  await startSshd(pve2);
  const newKey = (await run(pve2, "cat /etc/ssh/ssh_host_ed25519_key.pub")).trim().split(/\s+/).slice(0, 2).join(" ");
  const reinstalled = await state(pve2);
  assert.equal(reinstalled.pveshOptions.enable, undefined, "the new installation has the option unset");

  // Pinning the new key without retire: the node has nothing of this stack's, so up refuses before any change on it.
  await program.configure(configFor([{ ...pve2, hostPublicKey: newKey }]));
  await assert.rejects(program.stack.up(), (error: Error) => {
    assert.match(error.message, /\[host pve2, resource [^\]]*preflight[^\]]*, field hostKey\] the pinned host key changed, and the node has nothing of this stack's/i);
    assert.match(error.message, /`npm run retire -- pve2`/);
    return true;
  });
  assert.deepEqual(changedFiles(reinstalled, await state(pve2)), [], "the new installation untouched");
  assert.equal((await state(pve2)).pveshOptions.enable, undefined);
  await program.configure(configFor([pve2]));

  const retired = await retire("pve2");
  assert.equal(retired.code, 0, retired.output);
  assert.match(retired.output, /presented another host key \(SHA256:\S+\): a reinstalled node/);
  assert.ok(retired.output.includes(`pulumi config set --path 'hosts[0].hostKey' '${newKey}' -s ${stackName}`), retired.output);
  assert.match(retired.output, /hardens the new installation of pve2 from scratch/);
  assert.deepEqual((await resourcesInState()).filter((resource) => resource.urn.includes("::pve2") || resource.urn.includes(`::${CLUSTER}-`)), [], "nothing of the old installation is left in the state");

  await program.configure(configFor([{ ...pve2, hostPublicKey: newKey }]));
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.equal((await state(pve2)).pveshOptions.enable, 0, "hardened again");
  assert.equal((await program.stack.destroy()).summary.result, "succeeded");
  const restored = await state(pve2);
  assert.deepEqual(restored.pveshOptions, reinstalled.pveshOptions, "the new installation's option, not the old one's firewall switched on");
  assert.deepEqual(changedFiles(reinstalled, restored), [], "the new installation's files");
  assert.equal(restored.ufwStatus, reinstalled.ufwStatus);
  assert.equal(restored.jails, reinstalled.jails);
});
