/**
 * Starting and removing a whole sandbox: `up` makes the hub, the namespace hosts and the nodes
 * and writes the inventory; `down` removes everything, found by name and namespace, so it also
 * cleans up after a crash without an inventory.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MAX_HOSTS } from "./addresses";
import { cgroup2Root, removeNodeCgroups } from "./cgroups";
import { startHost } from "./hosts";
import { ensureInotifyBudget, restoreInotifyLimit } from "./inotify";
import { Inventory, Mode, SandboxHost, writeInventory } from "./inventory";
import { ensureKeys } from "./keys";
import { CLIENTS_PATH, CLUSTERS_DIR, HOSTS_DIR, HUB_NETNS, INVENTORY_PATH, MACHINE_VETH, NODES_DIR, PREFIX, RUN_NETNS_MARKER, SANDBOX_DIR, SRC_DIR } from "./layout";
import { listNetns, nsInode, sandboxPids, setupHub } from "./namespaces";
import { chooseNetwork } from "./network";
import { NodeSpec, startNodes } from "./nodes";
import { must, pool, run, sleep, withMachineLock } from "./process";

export interface UpOptions {
  /** Namespace hosts pve1..pveN (0 when only nodes are wanted). */
  count: number;
  /** systemd-booted nodes, named on after the namespace hosts. */
  nodes?: NodeSpec[];
  /** All hosts journald-style (like a default Proxmox VE 8). */
  journald?: boolean;
  /** Per-host modes by index (host i gets modes[i], missing ones the default). */
  modes?: Mode[];
  /** Progress lines; default: none. */
  log?: (line: string) => void;
  /** How many hosts start at once (default 4). */
  concurrency?: number;
  /** Run sandbox/install-deps.sh first (default true). */
  installDeps?: boolean;
}

export interface DownReport {
  killedProcesses: number;
  namespaces: string[];
  unmounted: string[];
}

/**
 * Starts `count` hosts pve1..pveN (cleaning up leftovers of an earlier run first) and
 * writes .sandbox/inventory.json.
 */
export async function up(opts: UpOptions): Promise<Inventory> {
  const log = opts.log ?? (() => undefined);
  const count = opts.count;
  const nodes = opts.nodes ?? [];
  if (!Number.isInteger(count) || count < 0 || count + nodes.length < 1 || count + nodes.length > MAX_HOSTS) {
    throw new Error(`host and node count must be 1..${MAX_HOSTS} together`);
  }
  if (process.getuid && process.getuid() !== 0) throw new Error("the sandbox needs root");
  if (nodes.length) {
    if (!cgroup2Root()) throw new Error("nodes need the machine's cgroup2 hierarchy mounted (down finds their cgroups there)");
  }
  const t0 = Date.now();
  if (opts.installDeps !== false) {
    log("checking Debian packages (sandbox/install-deps.sh)");
    const r = await run("bash", [path.join(SRC_DIR, "install-deps.sh")], { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`install-deps.sh failed:\n${r.stdout}${r.stderr}`);
    if (r.stderr.trim()) log(r.stderr.trim());
  }
  const rep = await down();
  if (rep.killedProcesses || rep.namespaces.length) {
    log(`cleaned leftovers: ${rep.namespaces.length} namespaces, ${rep.killedProcesses} processes`);
  }
  fs.mkdirSync(HOSTS_DIR, { recursive: true });
  const authKey = await ensureKeys();
  // Choosing a free range and claiming it with the machine-side address must not interleave
  // with another sandbox (PHS_PREFIX) starting at the same moment.
  const network = await withMachineLock(async () => {
    const chosen = await chooseNetwork();
    await setupHub(chosen);
    return chosen;
  });
  log(`network ${network.ipv4} / ${network.ipv6}, machine at ${network.machineAddress}`);

  const hosts: SandboxHost[] = [];
  const indexes = Array.from({ length: count }, (_, i) => i + 1);
  try {
    await pool(indexes, opts.concurrency ?? 4, async (i) => {
      const mode: Mode = opts.modes?.[i - 1] ?? (opts.journald ? "journald" : "syslog");
      const ts = Date.now();
      const h = await startHost(`pve${i}`, i, mode, network, authKey);
      hosts.push(h);
      log(`pve${i} up (${mode}) at ${h.address} in ${((Date.now() - ts) / 1000).toFixed(1)} s [${hosts.length}/${count}]`);
    });
  } catch (e) {
    log("start failed; removing what was started");
    await down();
    throw e;
  }
  try {
    if (nodes.length) await ensureInotifyBudget(nodes.length, log);
    hosts.push(...(await startNodes(nodes, count, network, authKey, opts.concurrency ?? 4, log)));
  } catch (e) {
    log("a node failed to start; removing what was started");
    await down();
    throw e;
  }
  hosts.sort((a, b) => Number(a.name.slice(3)) - Number(b.name.slice(3)));
  const inv: Inventory = { network, hosts };
  writeInventory(inv);
  log(`${count + nodes.length} host(s) up in ${((Date.now() - t0) / 1000).toFixed(1)} s; inventory: ${INVENTORY_PATH}`);
  return inv;
}

/**
 * Removes every sandbox host and client: kills their processes (found by namespace, so
 * this works after a crash without an inventory), deletes the phs-* namespaces (which
 * removes their veths and the bridge), unmounts leftovers and deletes .sandbox/ except
 * the client key.
 */
export async function down(opts: { log?: (line: string) => void } = {}): Promise<DownReport> {
  const log = opts.log ?? (() => undefined);
  // Nodes first: all of a node (its launcher, nspawn, its systemd and every unit) is in its cgroup,
  // so nothing restarts it while the rest goes.
  let killed = await removeNodeCgroups();
  const namespaces = await listNetns();
  const inodes = new Set(namespaces.map((n) => nsInode(`/run/netns/${n}`)).filter((x): x is string => !!x));
  for (let round = 0; round < 100; round++) {
    const pids = sandboxPids(inodes);
    if (!pids.length) break;
    if (round === 99) throw new Error(`could not kill sandbox processes: ${pids.join(" ")}`);
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
        if (round === 0) killed++;
      } catch {
        /* already gone */
      }
    }
    await sleep(50);
  }
  // Hosts and clients first, the hub (with the bridge and phs-m0's peer) last.
  for (const n of [...namespaces.filter((n) => n !== HUB_NETNS), ...namespaces.filter((n) => n === HUB_NETNS)]) {
    await must("ip", ["netns", "del", n]);
  }
  // Namespaces are freed asynchronously by the kernel; phs-m0 goes with its peer in the hub.
  for (let i = 0; i < 100 && (await run("ip", ["link", "show", MACHINE_VETH])).code === 0; i++) {
    if (i === 20) await run("ip", ["link", "del", MACHINE_VETH]);
    await sleep(50);
  }
  if ((await run("ip", ["link", "show", MACHINE_VETH])).code === 0) throw new Error(`could not remove ${MACHINE_VETH}`);

  const unmounted: string[] = [];
  const mounts = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && (m.startsWith(SANDBOX_DIR + "/") || m.startsWith(`/run/netns/${PREFIX}`)));
  for (const m of mounts.reverse()) {
    const r = await run("umount", ["-l", m]);
    if (r.code === 0) unmounted.push(m);
  }
  // /run/netns was created by `ip netns add` for us: remove it again if nothing else uses it.
  if (fs.existsSync(RUN_NETNS_MARKER) && fs.existsSync("/run/netns") && fs.readdirSync("/run/netns").length === 0) {
    await run("umount", ["/run/netns"]);
    try {
      fs.rmdirSync("/run/netns");
    } catch {
      /* in use */
    }
    fs.rmSync(RUN_NETNS_MARKER, { force: true });
  }
  fs.rmSync(HOSTS_DIR, { recursive: true, force: true });
  fs.rmSync(NODES_DIR, { recursive: true, force: true });
  fs.rmSync(CLUSTERS_DIR, { recursive: true, force: true });
  fs.rmSync(INVENTORY_PATH, { force: true });
  fs.rmSync(CLIENTS_PATH, { force: true });
  await restoreInotifyLimit(log);
  if (namespaces.length || killed) log(`removed ${namespaces.length} namespaces, killed ${killed} processes`);
  return { killedProcesses: killed, namespaces, unmounted };
}
