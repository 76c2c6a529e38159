/**
 * Systemd-booted nodes: a Debian root file system booted by systemd-nspawn in its own network
 * namespace, cgroup and mount namespace (see sandbox/README.md "Nodes").
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { addr4, addr6 } from "./addresses";
import { hostExec, hostPid } from "./exec";
import { Mode, readInventory, Release, resolveHost, SandboxHost, writeInventory } from "./inventory";
import { fingerprint } from "./keys";
import { CLIENT_KEY_PATH, CLUSTERS_DIR, HOST_BIN, HOST_PATH, NODE_SRC, NODES_DIR, PREFIX } from "./layout";
import { netnsInitPid, plugIn } from "./namespaces";
import { SandboxNetwork, tcpOpen } from "./network";
import { ClusterMember, renderCorosyncConf } from "./node/corosync-conf";
import { must, pool, run, waitFor } from "./process";

/** A systemd-booted node: its release, journal only (default) or rsyslog too, and its cluster. */
export interface NodeSpec {
  release: Release;
  mode?: Mode;
  /** Nodes with the same cluster name share /etc/pve and run the corosync stand-in. */
  cluster?: string;
}

const NODE_RUN = path.join(NODE_SRC, "node-run.sh");
const BUILD_ROOTFS = path.join(NODE_SRC, "build-rootfs.sh");

/** Builds the release's root file system on first use (cached) and returns its directory. */
async function nodeRootfs(release: Release, mode: Mode, log: (line: string) => void): Promise<string> {
  const t0 = Date.now();
  const r = await run("bash", [BUILD_ROOTFS, release, mode], { timeoutMs: 1_200_000 });
  if (r.code !== 0) throw new Error(`building the ${release} root file system failed:\n${r.stderr.slice(-3000)}`);
  if (Date.now() - t0 > 5_000) log(`built the ${release} (${mode}) root file system in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return r.stdout.trim();
}

/** The node's cgroup (v2), its machine name and its network namespace share one name. */
const nodeUnit = (name: string) => `${PREFIX}${name}`;

function writeSeed(file: string, content: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

/** What makes a node this node: files in its overlay's upper layer, written before it first boots. */
async function seedNode(upper: string, base: string, name: string, address: string, authKey: string, password: string, pve: string | undefined): Promise<string> {
  // The upper layer's directories are the node's: / must stay 0755 for the daemons' users.
  fs.mkdirSync(upper, { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(upper, "root"), { mode: 0o700 });
  writeSeed(path.join(upper, "etc/hostname"), `${name}\n`);
  writeSeed(path.join(upper, "etc/hosts"), `127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n${address} ${name}.sandbox.invalid ${name}\n`);
  writeSeed(path.join(upper, "etc/machine-id"), `${crypto.randomBytes(16).toString("hex")}\n`, 0o444);
  // As Debian's postinst makes it, comment included.
  const keyPath = path.join(upper, "etc/ssh/ssh_host_ed25519_key");
  fs.mkdirSync(path.dirname(keyPath), { recursive: true });
  await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${name}`, "-f", keyPath]);
  fs.mkdirSync(path.join(upper, "root/.ssh"), { mode: 0o700 });
  writeSeed(path.join(upper, "root/.ssh/authorized_keys"), fs.readFileSync(authKey, "utf8"), 0o600);
  const hash = (await must("openssl", ["passwd", "-6", "-stdin"], { input: password })).trim();
  const shadow = fs.readFileSync(path.join(base, "etc/shadow"), "utf8").replace(/^ops:[^:]*:/m, `ops:${hash}:`);
  writeSeed(path.join(upper, "etc/shadow"), shadow, 0o640);
  const shadowGid = Number(/^shadow:x:(\d+):/m.exec(fs.readFileSync(path.join(base, "etc/group"), "utf8"))?.[1] ?? 0);
  fs.chownSync(path.join(upper, "etc/shadow"), 0, shadowGid);
  // The Proxmox stand-ins and their units, enabled as the packages enable them.
  for (const f of ["pvedaemon", "pveproxy", "pvecm"]) writeSeed(path.join(upper, "usr/bin", f), fs.readFileSync(path.join(NODE_SRC, "stand-ins", f), "utf8"), 0o755);
  writeSeed(path.join(upper, "usr/bin/pvesh"), fs.readFileSync(path.join(HOST_BIN, "pvesh"), "utf8"), 0o755);
  writeSeed(path.join(upper, "usr/sbin/corosync"), fs.readFileSync(path.join(NODE_SRC, "stand-ins", "corosync"), "utf8"), 0o755);
  for (const unit of fs.readdirSync(path.join(NODE_SRC, "units"))) {
    writeSeed(path.join(upper, "etc/systemd/system", unit), fs.readFileSync(path.join(NODE_SRC, "units", unit), "utf8"));
    fs.mkdirSync(path.join(upper, "etc/systemd/system/multi-user.target.wants"), { recursive: true });
    fs.symlinkSync(`/etc/systemd/system/${unit}`, path.join(upper, "etc/systemd/system/multi-user.target.wants", unit));
  }
  if (pve) {
    // A cluster member: corosync reads its copy of the cluster's corosync.conf, as pve-cluster keeps it.
    writeSeed(path.join(upper, "etc/corosync/corosync.conf"), fs.readFileSync(path.join(pve, "corosync.conf"), "utf8"));
  } else {
    pve = path.join(upper, "etc/pve");
    fs.mkdirSync(path.join(pve, "firewall"), { recursive: true });
    fs.symlinkSync(`nodes/${name}`, path.join(pve, "local"));
  }
  // pveproxy's certificate, where a Proxmox VE node keeps it.
  const nodeDir = path.join(pve, "nodes", name);
  fs.mkdirSync(nodeDir, { recursive: true });
  await must("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", `/CN=${name}.sandbox.invalid`,
    "-keyout", path.join(nodeDir, "pve-ssl.key"), "-out", path.join(nodeDir, "pve-ssl.pem")]);
  return fs.readFileSync(`${keyPath}.pub`, "utf8").trim();
}

/** A cluster's /etc/pve, shared by its members as pmxcfs shows it; returns its directory. */
function createCluster(name: string, members: ClusterMember[]): string {
  if (!/^[a-z0-9-]{1,15}$/.test(name)) throw new Error(`cluster name must be 1-15 of [a-z0-9-]: ${name}`);
  const pve = path.join(CLUSTERS_DIR, name, "pve");
  fs.mkdirSync(path.join(pve, "firewall"), { recursive: true });
  fs.writeFileSync(path.join(pve, "corosync.conf"), renderCorosyncConf(name, members));
  // "local" is bind-mounted per node over this directory (pmxcfs shows a symlink to nodes/NAME).
  fs.mkdirSync(path.join(pve, "local"), { recursive: true });
  for (const m of members) fs.mkdirSync(path.join(pve, "nodes", m.name), { recursive: true });
  return pve;
}

/** Waits until the node's systemd has finished booting (running or degraded) and sshd answers. */
async function waitBooted(h: SandboxHost, since: number, timeoutMs: number, consoleLog: string): Promise<number> {
  const end = Date.now() + timeoutMs;
  const pid = await waitFor(`${h.name} to start (see ${consoleLog})`, timeoutMs, () => {
    const p = netnsInitPid(h.netns);
    return p !== undefined && p !== since ? p : undefined;
  });
  // systemctl needs systemd's private socket, which comes a moment after PID 1.
  const state = await hostExec({ ...h, pid }, "for i in $(seq 200); do [ -S /run/systemd/private ] && break; sleep 0.05; done; systemctl is-system-running --wait", {
    timeoutMs: Math.max(1_000, end - Date.now()),
  });
  if (!/^(running|degraded)$/m.test(state.stdout)) {
    const tail = fs.readFileSync(consoleLog, "utf8").slice(-2_000);
    throw new Error(`${h.name} did not boot (systemctl is-system-running: ${state.stdout.trim() || state.stderr.trim() || state.signal}); ${consoleLog} ends:\n${tail}`);
  }
  if (!(await tcpOpen(h.address, 22, Math.max(1_000, end - Date.now())))) throw new Error(`${h.name}: sshd does not answer on ${h.address}:22`);
  return pid;
}

function launchNode(h: SandboxHost, base: string, dir: string, pve: string | undefined): string {
  const consoleLog = path.join(dir, "console.log");
  const logFd = fs.openSync(consoleLog, "a");
  const child = spawn("unshare", ["--mount", "--propagation", "private", "--", NODE_RUN], {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: {
      PATH: HOST_PATH,
      LANG: "C.UTF-8",
      PHS_NODE: h.name,
      PHS_CGROUP: nodeUnit(h.name),
      PHS_NETNS: h.netns,
      PHS_BASE: base,
      PHS_NODEDIR: dir,
      ...(pve ? { PHS_PVE_SHARED: pve } : {}),
    },
  });
  fs.closeSync(logFd);
  child.unref();
  return consoleLog;
}

async function startNode(name: string, index: number, spec: NodeSpec & { mode: Mode }, base: string, netw: SandboxNetwork,
  authKey: string, pve: string | undefined): Promise<SandboxHost> {
  const netns = nodeUnit(name);
  const address = addr4(netw.ipv4, 10 + index);
  const address6 = addr6(netw.ipv6, 10 + index);
  const dir = path.join(NODES_DIR, name);
  const password = crypto.randomBytes(12).toString("base64url");
  const pubLine = await seedNode(path.join(dir, "upper"), base, name, address, authKey, password, pve);
  await plugIn(netns, `h-${name}`, address, address6);
  const pub = pubLine.split(/\s+/).slice(0, 2).join(" ");
  const host: SandboxHost = {
    name, address, address6, sshPort: 22, user: "root", privateKeyPath: CLIENT_KEY_PATH,
    hostPublicKey: pub, hostKeyFingerprint: fingerprint(pub), sudoUser: { name: "ops", password },
    mode: spec.mode, netns, pid: 0, kind: "node", release: spec.release, ...(spec.cluster ? { cluster: spec.cluster } : {}),
  };
  const consoleLog = launchNode(host, base, dir, pve);
  // Generous: 20 nodes booting on a loaded 2-core machine took more than 60 s for the last ones.
  host.pid = await waitBooted(host, 0, 180_000, consoleLog);
  return host;
}

/** Starts the nodes, named pve{after+1}...; each cluster's /etc/pve is made before its members boot. */
export async function startNodes(specs: NodeSpec[], after: number, network: SandboxNetwork, authKey: string, concurrency: number,
  log: (line: string) => void): Promise<SandboxHost[]> {
  const named = specs.map((spec, i) => ({ ...spec, mode: spec.mode ?? "journald", name: `pve${after + i + 1}`, index: after + i + 1 }));
  const bases = new Map<string, string>();
  for (const n of named) {
    const key = `${n.release}-${n.mode}`;
    if (!bases.has(key)) bases.set(key, await nodeRootfs(n.release, n.mode, log));
  }
  const clusters = new Map<string, string>();
  for (const c of new Set(named.flatMap((n) => (n.cluster ? [n.cluster] : [])))) {
    const members = named.filter((n) => n.cluster === c).map((n, i) => ({ name: n.name, nodeid: i + 1, ring0Addr: addr4(network.ipv4, 10 + n.index) }));
    clusters.set(c, createCluster(c, members));
  }
  const started: SandboxHost[] = [];
  await pool(named, concurrency, async (n) => {
    const ts = Date.now();
    const h = await startNode(n.name, n.index, n, bases.get(`${n.release}-${n.mode}`)!, network, authKey, n.cluster ? clusters.get(n.cluster) : undefined);
    started.push(h);
    log(`${n.name} up (${n.release} node, ${n.mode}${n.cluster ? `, cluster ${n.cluster}` : ""}) at ${h.address} in ${((Date.now() - ts) / 1000).toFixed(1)} s`);
  });
  return started;
}

/**
 * Reboots a node for real (`systemctl reboot`: nspawn exits 133 and node-run.sh boots it again)
 * and returns it, with its new PID, once it has booted and sshd answers.
 */
export async function reboot(which: string | SandboxHost, opts: { timeoutMs?: number } = {}): Promise<SandboxHost> {
  const h = resolveHost(which);
  if (h.kind !== "node") throw new Error(`${h.name} is a namespace host: only nodes reboot`);
  const old = hostPid(h);
  // The command's session ends with the node; its exit status says nothing.
  await hostExec(h, "systemctl reboot", { timeoutMs: 10_000 });
  const pid = await waitBooted(h, old, opts.timeoutMs ?? 60_000, path.join(NODES_DIR, h.name, "console.log"));
  const inv = readInventory();
  const rebooted = { ...h, pid };
  writeInventory({ ...inv, hosts: inv.hosts.map((x) => (x.name === h.name ? rebooted : x)) });
  return rebooted;
}

