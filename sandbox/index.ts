/**
 * The sandbox: disposable Proxmox-VE-like hosts on this machine.
 *
 * Each host is a network namespace (phs-<name>) plus its own mount, PID, UTS, IPC and
 * cgroup namespaces, running Debian's openssh-server, rsyslog or systemd-journald,
 * fail2ban, ufw and a `pvesh` stand-in. Hosts hang off a bridge in the hub namespace
 * (phs-hub); the machine reaches them through the veth phs-m0.
 *
 * See sandbox/README.md for what is modelled and what is not.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as dns from "node:dns";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { Client } from "ssh2";
import { shellQuote } from "../providers/ssh/quote";
import { ClusterMember, renderCorosyncConf } from "./node/corosync-conf";

export type Mode = "syslog" | "journald";
/** Debian 12 (Proxmox VE 8's base) or Debian 13 (Proxmox VE 9's base). */
export type Release = "bookworm" | "trixie";
/** "namespace": namespaces on the machine's own files; "node": a systemd-booted Debian (nspawn). */
export type HostKind = "namespace" | "node";

/** A systemd-booted node: its release, journal only (default) or rsyslog too, and its cluster. */
export interface NodeSpec {
  release: Release;
  mode?: Mode;
  /** Nodes with the same cluster name share /etc/pve and run the corosync stand-in. */
  cluster?: string;
}

export interface SandboxNetwork {
  /** IPv4 network of the sandbox, e.g. "198.51.100.0/24". */
  ipv4: string;
  /** IPv6 network of the sandbox, e.g. "2001:db8:ff::/64". */
  ipv6: string;
  /** The machine's address on the sandbox network (where tests and Pulumi run). */
  machineAddress: string;
  machineAddress6: string;
}

export interface SandboxHost {
  name: string;
  address: string;
  address6: string;
  sshPort: number;
  user: string;
  privateKeyPath: string;
  /** "ssh-ed25519 AAAA..." without comment. */
  hostPublicKey: string;
  /** "SHA256:..." as ssh-keygen -l prints it. */
  hostKeyFingerprint: string;
  sudoUser: { name: string; password: string };
  mode: Mode;
  netns: string;
  /** PID (in the machine's PID namespace) of the host's init; a node's changes when it reboots. */
  pid: number;
  kind: HostKind;
  /** A namespace host's is the machine's. */
  release: Release;
  cluster?: string;
}

export interface Inventory {
  network: SandboxNetwork;
  hosts: SandboxHost[];
}

export interface SandboxClient {
  name: string;
  netns: string;
  address: string;
  address6: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed by a signal (e.g. on timeout). */
  code: number | null;
  signal: string | null;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill the command after this many ms (default 60000). */
  timeoutMs?: number;
}

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

export const REPO_ROOT = path.resolve(__dirname, "..");
export const SANDBOX_DIR = process.env.PHS_SANDBOX_DIR
  ? path.resolve(process.env.PHS_SANDBOX_DIR)
  : path.join(REPO_ROOT, ".sandbox");
export const INVENTORY_PATH = path.join(SANDBOX_DIR, "inventory.json");
export const KEY_DIR = path.join(SANDBOX_DIR, "keys");
export const CLIENT_KEY_PATH = path.join(KEY_DIR, "id_ed25519");
const HOSTS_DIR = path.join(SANDBOX_DIR, "hosts");
const NODES_DIR = path.join(SANDBOX_DIR, "nodes");
const CLUSTERS_DIR = path.join(SANDBOX_DIR, "clusters");
const CLIENTS_PATH = path.join(SANDBOX_DIR, "clients.json");
const RUN_NETNS_MARKER = path.join(SANDBOX_DIR, "run-netns-created");
const SRC_DIR = __dirname;
const HOST_INIT = path.join(SRC_DIR, "host-init.sh");
const HOST_BIN = path.join(SRC_DIR, "host-bin");
const HOST_LIB = path.join(SRC_DIR, "host-lib");
const NODE_SRC = path.join(SRC_DIR, "node");

/**
 * Name prefix of everything a sandbox creates on the machine (namespaces, the
 * machine-side veth, init processes). PHS_PREFIX lets two sandboxes run side
 * by side (e.g. two developers' test runs); each then needs its own
 * PHS_SANDBOX_DIR, and takes the next free documentation range.
 */
export const PREFIX = process.env.PHS_PREFIX ?? "phs-";
if (!/^[a-z]{2,5}-$/.test(PREFIX)) throw new Error(`PHS_PREFIX must be 2-5 lower-case letters and '-', got ${JSON.stringify(PREFIX)}`);
export const HUB_NETNS = `${PREFIX}hub`;
export const MACHINE_VETH = `${PREFIX}m0`;
const INIT_NAME = `${PREFIX}init`;
const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------------------
// small process helpers

interface RunOptions extends ExecOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ?? { PATH: HOST_PATH, LANG: "C.UTF-8" },
      cwd: opts.cwd,
    });
    // Strings, not Buffer.concat: @types/node 20.9 and TypeScript 5.9 disagree on Buffer.
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (out += d));
    child.stderr.on("data", (d: string) => (err += d));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout: out, stderr: err, code, signal });
    });
    child.stdin.on("error", () => undefined);
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  const workers = Array.from({ length: Math.max(1, Math.min(limit, queue.length)) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
        queue.length = 0;
      }
    }
  });
  await Promise.all(workers);
  if (errors.length) throw errors[0];
}

// ---------------------------------------------------------------------------------------
// addresses

function ipv4ToInt(a: string): number {
  return a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function ipv6ToBig(a: string): bigint {
  const [head, tail] = a.includes("::") ? a.split("::") : [a, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || "0", 16)), 0n);
}

function overlaps4(aNet: string, bNet: string): boolean {
  const [a, al] = aNet.split("/");
  const [b, bl] = bNet.split("/");
  const len = Math.min(Number(al ?? 32), Number(bl ?? 32));
  if (len === 0) return true;
  const mask = len === 32 ? 0xffffffff : (~((1 << (32 - len)) - 1)) >>> 0;
  return ((ipv4ToInt(a) & mask) >>> 0) === ((ipv4ToInt(b) & mask) >>> 0);
}

function overlaps6(aNet: string, bNet: string): boolean {
  const [a, al] = aNet.split("/");
  const [b, bl] = bNet.split("/");
  const len = BigInt(Math.min(Number(al ?? 128), Number(bl ?? 128)));
  if (len === 0n) return true;
  const shift = 128n - len;
  return ipv6ToBig(a) >> shift === ipv6ToBig(b) >> shift;
}

// Quarters (/26) of the three documentation ranges, so that several sandboxes (PHS_PREFIX)
// can run side by side even where the machine's own uplink or its package mirror sits in one
// of them. In a quarter: the machine is .1, hosts .11 to .40, clients .41 to .62.
const V4_CANDIDATES = ["192.0.2", "198.51.100", "203.0.113"].flatMap((net) => [0, 64, 128, 192].map((base) => `${net}.${base}/26`));
const V6_CANDIDATES = Array.from({ length: 12 }, (_, i) => `2001:db8:${(0xff - i).toString(16)}::/64`);
const MAX_HOSTS = 30;
const FIRST_CLIENT = 41;
const LAST_CLIENT = 62;

/**
 * Picks documentation ranges that no address or route of the machine already uses
 * (this machine's own uplink may sit in 192.0.2.0/24). PHS_IPV4_NET / PHS_IPV6_NET
 * override the choice.
 */
async function chooseNetwork(): Promise<SandboxNetwork> {
  const used4: string[] = [];
  const used6: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const routes = JSON.parse(await must("ip", ["-j", fam, "route", "show", "table", "all"])) as Array<{
      dst?: string;
      dev?: string;
      type?: string;
    }>;
    for (const r of routes) {
      if (!r.dst || r.dst === "default" || r.dev === MACHINE_VETH) continue;
      if (fam === "-4") used4.push(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
      else if (!r.dst.startsWith("fe80") && !r.dst.startsWith("ff")) used6.push(r.dst.includes("/") ? r.dst : `${r.dst}/128`);
    }
  }
  const addrs = JSON.parse(await must("ip", ["-j", "addr"])) as Array<{
    ifname: string;
    addr_info: Array<{ family: string; local: string; prefixlen: number }>;
  }>;
  for (const l of addrs) {
    if (l.ifname === MACHINE_VETH) continue;
    for (const a of l.addr_info) {
      if (a.family === "inet") used4.push(`${a.local}/${a.prefixlen}`);
      else if (a.family === "inet6" && !a.local.startsWith("fe80")) used6.push(`${a.local}/${a.prefixlen}`);
    }
  }
  // Addresses this machine must keep reaching outside the sandbox: the package registries
  // (here they resolve into a documentation range) and the DNS servers.
  for (const name of ["registry.npmjs.org", "deb.debian.org", "proxy.golang.org", "sum.golang.org"]) {
    for (const found of await dns.promises.lookup(name, { all: true }).catch(() => [])) {
      if (found.family === 4) used4.push(`${found.address}/32`);
      else used6.push(`${found.address}/128`);
    }
  }
  for (const line of fs.readFileSync("/etc/resolv.conf", "utf8").split("\n")) {
    const server = /^nameserver\s+([0-9.]+)\s*$/.exec(line)?.[1];
    if (server) used4.push(`${server}/32`);
  }
  const pick = (env: string | undefined, cands: string[], used: string[], ov: (a: string, b: string) => boolean) => {
    if (env) return env;
    const free = cands.find((c) => !used.some((u) => ov(c, u)));
    if (!free) throw new Error(`no free sandbox network among ${cands.join(", ")} (in use: ${used.join(", ")})`);
    return free;
  };
  const ipv4 = pick(process.env.PHS_IPV4_NET, V4_CANDIDATES, used4, overlaps4);
  const ipv6 = pick(process.env.PHS_IPV6_NET, V6_CANDIDATES, used6, overlaps6);
  if (!/^\d+\.\d+\.\d+\.(0|64|128|192)\/(24|25|26)$/.test(ipv4)) throw new Error(`sandbox IPv4 network must be a /26 (or larger) aligned to 64: ${ipv4}`);
  if (!/^[0-9a-f:]+::\/64$/.test(ipv6)) throw new Error(`sandbox IPv6 network must be a /64 ending in ::: ${ipv6}`);
  return {
    ipv4,
    ipv6,
    machineAddress: addr4(ipv4, 1),
    machineAddress6: addr6(ipv6, 1),
  };
}

/** The n-th address of the network: 198.51.100.128/25 and 11 -> 198.51.100.139. */
function addr4(network: string, n: number): string {
  const octets = network.split("/")[0].split(".");
  return `${octets.slice(0, 3).join(".")}.${Number(octets[3]) + n}`;
}

/** 2001:db8:ff::/64 and 11 -> 2001:db8:ff::11 (the decimal digits, as in the brief). */
function addr6(network: string, n: number): string {
  return `${network.split("/")[0]}${n}`;
}

// ---------------------------------------------------------------------------------------
// inventory

export function readInventory(file: string = INVENTORY_PATH): Inventory {
  if (!fs.existsSync(file)) throw new Error(`no sandbox inventory at ${file}: run 'npm run sandbox -- up N'`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Inventory;
}

function writeInventory(inv: Inventory): void {
  const tmp = `${INVENTORY_PATH}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(inv, null, 2) + "\n");
  fs.renameSync(tmp, INVENTORY_PATH);
}

/** A host of the current inventory by name ("pve1") or 0-based index. */
export function getHost(which: string | number): SandboxHost {
  const inv = readInventory();
  const h = typeof which === "number" ? inv.hosts[which] : inv.hosts.find((x) => x.name === which);
  if (!h) throw new Error(`no sandbox host ${which}`);
  return h;
}

// ---------------------------------------------------------------------------------------
// up

async function ensureKeys(): Promise<string> {
  fs.mkdirSync(KEY_DIR, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(CLIENT_KEY_PATH)) {
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "proxmox-hardening-sandbox", "-f", CLIENT_KEY_PATH]);
  }
  return `${CLIENT_KEY_PATH}.pub`;
}

function fingerprint(pubLine: string): string {
  return "SHA256:" + crypto.createHash("sha256").update(pubLine.split(/\s+/)[1], "base64").digest("base64").replace(/=+$/, "");
}

const MACHINE_LOCK = "/run/lock/proxmox-hardening-sandbox-network";

/** A lock shared by every sandbox on the machine (mkdir is atomic); a stale one (> 60 s) is taken over. */
async function withMachineLock<T>(fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      fs.mkdirSync(MACHINE_LOCK, { recursive: false });
      break;
    } catch {
      const age = Date.now() - (fs.statSync(MACHINE_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 60_000) fs.rmSync(MACHINE_LOCK, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`${MACHINE_LOCK} is held by another sandbox start`);
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(MACHINE_LOCK, { recursive: true, force: true });
  }
}

async function setupHub(netw: SandboxNetwork): Promise<void> {
  const ip = (...a: string[]) => must("ip", a);
  if (!fs.existsSync("/run/netns")) fs.writeFileSync(RUN_NETNS_MARKER, "");
  await ip("netns", "add", HUB_NETNS);
  await ip("-n", HUB_NETNS, "link", "set", "lo", "up");
  await ip("-n", HUB_NETNS, "link", "add", "br0", "type", "bridge");
  await ip("-n", HUB_NETNS, "link", "set", "br0", "up");
  await ip("link", "add", MACHINE_VETH, "type", "veth", "peer", "name", "m0", "netns", HUB_NETNS);
  await ip("-n", HUB_NETNS, "link", "set", "m0", "master", "br0", "up");
  await ip("addr", "add", `${netw.machineAddress}/${netw.ipv4.split("/")[1]}`, "dev", MACHINE_VETH);
  await ip("addr", "add", `${netw.machineAddress6}/64`, "dev", MACHINE_VETH, "nodad");
  await ip("link", "set", MACHINE_VETH, "up");
}

/** Creates namespace, veth and addresses for a host or client namespace on the bridge. */
async function plugIn(netns: string, hubIf: string, a4: string, a6: string): Promise<void> {
  const ip = (...a: string[]) => must("ip", a);
  await ip("netns", "add", netns);
  await ip("-n", HUB_NETNS, "link", "add", hubIf, "type", "veth", "peer", "name", "eth0", "netns", netns);
  await ip("-n", HUB_NETNS, "link", "set", hubIf, "master", "br0", "up");
  await ip("-n", netns, "link", "set", "lo", "up");
  await ip("-n", netns, "addr", "add", `${a4}/24`, "dev", "eth0");
  await ip("-n", netns, "addr", "add", `${a6}/64`, "dev", "eth0", "nodad");
  await ip("-n", netns, "link", "set", "eth0", "up");
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * One TCP connection attempt from the machine: "open", "refused" (RST/ICMP reject) or
 * "timeout" (dropped). Bounded by timeoutMs; no retries.
 */
export function tcpProbe(host: string, port: number, timeoutMs = 2_000): Promise<"open" | "refused" | "timeout"> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve("timeout");
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      s.destroy();
      resolve("open");
    });
    s.once("error", () => {
      clearTimeout(t);
      resolve("refused");
    });
  });
}

async function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return (await tcpProbe(host, port, timeoutMs)) === "open";
}

async function startHost(name: string, index: number, mode: Mode, netw: SandboxNetwork, authKey: string): Promise<SandboxHost> {
  const netns = `${PREFIX}${name}`;
  const address = addr4(netw.ipv4, 10 + index);
  const address6 = addr6(netw.ipv6, 10 + index);
  const dir = path.join(HOSTS_DIR, name);
  fs.mkdirSync(path.join(dir, "rw"), { recursive: true, mode: 0o700 });
  const keyPath = path.join(dir, "ssh_host_ed25519_key");
  await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", keyPath]);
  const password = crypto.randomBytes(12).toString("base64url");
  fs.writeFileSync(path.join(dir, "ops-password"), password, { mode: 0o600 });
  // Everything the host's init reads goes into its own dir, which it binds to /mnt: the
  // repository may sit under /tmp, /root or /home, which the host covers with its own tmpfs.
  fs.cpSync(HOST_BIN, path.join(dir, "bin"), { recursive: true });
  fs.copyFileSync(authKey, path.join(dir, "authorized_key"));

  await plugIn(netns, `h-${name}`, address, address6);

  const logPath = path.join(dir, "init.log");
  const logFd = fs.openSync(logPath, "w");
  const child = spawn(
    "nsenter",
    [`--net=/run/netns/${netns}`, "--", "unshare", "--mount", "--uts", "--ipc", "--pid", "--cgroup", "--fork",
      "--mount-proc", "--propagation", "private", "--", HOST_INIT],
    {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: {
        PATH: HOST_PATH,
        LANG: "C.UTF-8",
        PHS_NAME: name,
        PHS_INIT_NAME: INIT_NAME,
        PHS_MODE: mode,
        PHS_HOSTDIR: dir,
        PHS_ADDR: address,
      },
    },
  );
  fs.closeSync(logFd);
  child.unref();
  const unsharePid = child.pid;
  if (!unsharePid) throw new Error(`${name}: could not start nsenter`);

  const pid = await waitFor(`${name} init process`, 10_000, () => {
    try {
      const kids = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
      return kids ? Number(kids.split(/\s+/)[0]) : undefined;
    } catch {
      throw new Error(`${name}: host exited at once; see ${logPath}:\n${fs.readFileSync(logPath, "utf8")}`);
    }
  });
  await waitFor(`${name} to boot (see ${logPath})`, 90_000, () => {
    const text = fs.readFileSync(logPath, "utf8");
    if (/^FAILED/m.test(text)) throw new Error(`${name} failed to boot:\n${text}`);
    if (/^READY$/m.test(text)) return true;
    if (!fs.existsSync(`/proc/${pid}`)) throw new Error(`${name} init died:\n${text}`);
    return undefined;
  });
  if (!(await tcpOpen(address, 22, 5_000))) throw new Error(`${name}: sshd does not answer on ${address}:22`);

  const pub = fs.readFileSync(`${keyPath}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  return {
    name,
    address,
    address6,
    sshPort: 22,
    user: "root",
    privateKeyPath: CLIENT_KEY_PATH,
    hostPublicKey: pub,
    hostKeyFingerprint: fingerprint(pub),
    sudoUser: { name: "ops", password },
    mode,
    netns,
    pid,
    kind: "namespace",
    release: machineRelease(),
  };
}

/** The machine's Debian codename: a namespace host runs the machine's packages. */
function machineRelease(): Release {
  const codename = /^VERSION_CODENAME=(\w+)/m.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1];
  if (codename !== "bookworm" && codename !== "trixie") throw new Error(`the machine is Debian ${codename ?? "?"}, not bookworm or trixie`);
  return codename;
}

// ---------------------------------------------------------------------------------------
// systemd-booted nodes (systemd-nspawn; see sandbox/README.md "Nodes")

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

/** The cgroup2 hierarchy's mount point on the machine (/sys/fs/cgroup/unified on a hybrid one). */
export function cgroup2Root(): string | undefined {
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[f.indexOf("-") + 1] === "cgroup2") return f[4];
  }
  return undefined;
}

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

/** The node's systemd: the process in its network namespace that is PID 1 of its own PID namespace. */
function nodeInitPid(h: SandboxHost): number | undefined {
  const netIno = nsInode(`/run/netns/${h.netns}`);
  if (!netIno) return undefined;
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (/\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${e}/ns/net`))?.[1] !== netIno) continue;
      const nspid = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${e}/status`, "utf8"))?.[1].trim().split(/\s+/);
      if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === "1") return Number(e);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** Waits until the node's systemd has finished booting (running or degraded) and sshd answers. */
async function waitBooted(h: SandboxHost, since: number, timeoutMs: number, consoleLog: string): Promise<number> {
  const end = Date.now() + timeoutMs;
  const pid = await waitFor(`${h.name} to start (see ${consoleLog})`, timeoutMs, () => {
    const p = nodeInitPid(h);
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

/** inotify instances a booted node holds (systemd, journald, logind, dbus...; measured: 8). */
const NODE_INOTIFY = 8;

/** inotify instances root's processes hold now: the kernel limits them per user, machine-wide. */
function rootInotifyInstances(): number {
  let count = 0;
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.statSync(`/proc/${e}`).uid !== 0) continue;
      for (const fd of fs.readdirSync(`/proc/${e}/fd`)) if (fs.readlinkSync(`/proc/${e}/fd/${fd}`) === "anon_inode:inotify") count++;
    } catch {
      /* gone */
    }
  }
  return count;
}

const INOTIFY_SYSCTL = "/proc/sys/fs/inotify/max_user_instances";
/** Machine-wide (every sandbox's): the limit before a sandbox raised it, and the value it set ("128 1024"). */
const INOTIFY_SAVED = "/run/proxmox-hardening-sandbox-inotify";

/**
 * Makes room for the nodes' inotify instances: nodes share root's fs.inotify.max_user_instances with
 * everything else root runs, and a systemd that gets none fails to boot half-way. When they would not
 * fit, the limit is raised for the run (runtime kernel state, not /etc); the first sandbox to raise it
 * records the value it found, and the last `down` that leaves no node of any sandbox puts it back.
 */
async function ensureInotifyBudget(nodes: number, log: (line: string) => void): Promise<void> {
  await withMachineLock(async () => {
    const max = Number(fs.readFileSync(INOTIFY_SYSCTL, "utf8"));
    const needed = rootInotifyInstances() + nodes * NODE_INOTIFY;
    if (needed <= max) return;
    // Room for the user managers that root's SSH logins start in each node (3 instances each).
    const raised = Math.max(1024, 2 * needed);
    const original = fs.existsSync(INOTIFY_SAVED) ? fs.readFileSync(INOTIFY_SAVED, "utf8").split(" ")[0] : String(max);
    fs.writeFileSync(INOTIFY_SAVED, `${original} ${raised}`);
    fs.writeFileSync(INOTIFY_SYSCTL, String(raised));
    log(`fs.inotify.max_user_instances raised from ${max} to ${raised} for ${nodes} nodes (down restores ${original})`);
  });
}

/** Names of node cgroups of any sandbox (PREFIX + pveN) still on the machine. */
function anyNodeCgroups(): string[] {
  const root = cgroup2Root();
  return root ? fs.readdirSync(root).filter((n) => /^[a-z]{2,5}-pve\d+$/.test(n)) : [];
}

/** Puts back the inotify limit a sandbox raised, once no sandbox has a node left, unless someone else changed it since. */
async function restoreInotifyLimit(log: (line: string) => void): Promise<void> {
  if (!fs.existsSync(INOTIFY_SAVED) || anyNodeCgroups().length) return;
  await withMachineLock(async () => {
    if (!fs.existsSync(INOTIFY_SAVED) || anyNodeCgroups().length) return;
    const [original, raised] = fs.readFileSync(INOTIFY_SAVED, "utf8").split(" ");
    const now = fs.readFileSync(INOTIFY_SYSCTL, "utf8").trim();
    if (now === raised) {
      fs.writeFileSync(INOTIFY_SYSCTL, original);
      log(`fs.inotify.max_user_instances restored to ${original}`);
    } else log(`fs.inotify.max_user_instances is ${now}, not the ${raised} the sandbox set: left as it is`);
    fs.rmSync(INOTIFY_SAVED);
  });
}

/** Starts the nodes, named pve{after+1}...; each cluster's /etc/pve is made before its members boot. */
async function startNodes(specs: NodeSpec[], after: number, network: SandboxNetwork, authKey: string, concurrency: number,
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

// ---------------------------------------------------------------------------------------
// down

async function listNetns(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(/\s+/)[0])
    .filter((n) => n && n.startsWith(PREFIX));
}

function nsInode(p: string): string | undefined {
  try {
    return String(fs.statSync(p).ino);
  } catch {
    return undefined;
  }
}

/** PIDs of processes that belong to the sandbox: host inits and anything in a phs-* netns. */
function sandboxPids(netnsInodes: Set<string>): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const link = fs.readlinkSync(`/proc/${e}/ns/net`);
      const ino = /\[(\d+)\]/.exec(link)?.[1];
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8");
      if ((ino && netnsInodes.has(ino)) || cmd.startsWith(`${INIT_NAME} `)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
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

/** Kills everything in this sandbox's node cgroups (PREFIX*) and removes them; returns how many processes. */
async function removeNodeCgroups(): Promise<number> {
  const root = cgroup2Root();
  // up refuses to start nodes without it, so then there are none.
  if (!root) return 0;
  let killed = 0;
  for (const name of fs.readdirSync(root).filter((n) => n.startsWith(PREFIX))) {
    const top = path.join(root, name);
    const procs = (d: string = top): string[] => [
      ...fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean),
      ...fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => procs(path.join(d, e.name))),
    ];
    killed += procs().length;
    fs.writeFileSync(path.join(top, "cgroup.kill"), "1");
    // Children before parents; a cgroup stays busy until its killed processes are reaped.
    const dirs: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    await waitFor(`cgroup ${top} to empty`, 10_000, () => {
      for (const d of dirs) {
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EBUSY") return undefined;
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
      return true;
    });
  }
  return killed;
}

// ---------------------------------------------------------------------------------------
// exec

function resolveHost(host: SandboxHost | string): SandboxHost {
  return typeof host === "string" ? getHost(host) : host;
}

/** PID of the running init of this host (checks that the inventory's PID still is it). */
export function hostPid(host: SandboxHost | string): number {
  const h = resolveHost(host);
  if (h.kind === "node") {
    const pid = nodeInitPid(h);
    if (pid === undefined) throw new Error(`sandbox node ${h.name} is not running`);
    return pid;
  }
  const ok = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith(`${INIT_NAME} ${h.name}\0`);
    } catch {
      return false;
    }
  };
  if (ok(h.pid)) return h.pid;
  for (const e of fs.readdirSync("/proc")) if (/^\d+$/.test(e) && ok(Number(e))) return Number(e);
  throw new Error(`sandbox host ${h.name} is not running`);
}

/**
 * bash without rc files. Our stdin is a socket (node's pipes are socketpairs), which makes Debian's
 * bash take itself for an ssh session and source ~/.bashrc even with -c: in a client, which sees the
 * machine's files, that ran the machine's own ~/.bashrc (pyenv init: 6-20 s under load), so probes
 * bounded to 10 s were killed and read as "timeout" (issue 13, the attack suite's reachability).
 */
const BASH_C = ["/bin/bash", "--norc", "-c"];

/** Runs `command` with /bin/bash as root inside the host's namespaces. */
export async function hostExec(host: SandboxHost | string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const h = resolveHost(host);
  const pid = hostPid(h);
  // A node's root is its own file system: enter it (-r) and its / (-w: systemd's cwd; nsenter
  // resolves the target's cwd relative to ours, hence cwd "/").
  const dirs = h.kind === "node" ? ["-r", "-w"] : ["--wd=/"];
  return run(
    "nsenter",
    ["-t", String(pid), "-m", "-u", "-i", "-n", "-p", "-C", ...dirs, "--", ...BASH_C, command],
    {
      ...opts,
      cwd: "/",
      env: { PATH: HOST_PATH, HOME: "/root", USER: "root", LOGNAME: "root", SHELL: "/bin/bash", LANG: "C.UTF-8", TERM: "dumb" },
    },
  );
}

function readClients(): Record<string, SandboxClient> {
  try {
    return JSON.parse(fs.readFileSync(CLIENTS_PATH, "utf8")) as Record<string, SandboxClient>;
  } catch {
    return {};
  }
}

/**
 * A client namespace (phs-c-<name>) with its own address on the sandbox network, e.g.
 * an attacker. Idempotent: returns the existing client of that name.
 */
/** One at a time: each call picks the first free address from clients.json and writes it back. */
let clientQueue: Promise<unknown> = Promise.resolve();
export function addClient(name: string): Promise<SandboxClient> {
  const added = clientQueue.then(() => addClientNow(name));
  clientQueue = added.catch(() => undefined);
  return added;
}

async function addClientNow(name: string): Promise<SandboxClient> {
  if (!/^[a-z0-9]{1,12}$/.test(name)) throw new Error(`client name must be 1-12 of [a-z0-9]: ${name}`);
  const inv = readInventory();
  const clients = readClients();
  if (clients[name] && (await listNetns()).includes(clients[name].netns)) return clients[name];
  const used = new Set(Object.values(clients).map((c) => c.address));
  let n = FIRST_CLIENT;
  while (used.has(addr4(inv.network.ipv4, n))) n++;
  if (n > LAST_CLIENT) throw new Error(`too many clients (at most ${LAST_CLIENT - FIRST_CLIENT + 1})`);
  const client: SandboxClient = {
    name,
    netns: `${PREFIX}c-${name}`,
    address: addr4(inv.network.ipv4, n),
    address6: addr6(inv.network.ipv6, n),
  };
  await plugIn(client.netns, `c-${name}`, client.address, client.address6);
  clients[name] = client;
  fs.writeFileSync(CLIENTS_PATH, JSON.stringify(clients, null, 2) + "\n");
  return client;
}

export async function removeClient(name: string): Promise<void> {
  const clients = readClients();
  const c = clients[name];
  if (!c) return;
  const ino = nsInode(`/run/netns/${c.netns}`);
  if (ino) for (const p of sandboxPids(new Set([ino]))) process.kill(p, "SIGKILL");
  await run("ip", ["netns", "del", c.netns]);
  delete clients[name];
  fs.writeFileSync(CLIENTS_PATH, JSON.stringify(clients, null, 2) + "\n");
}

/** Runs `command` with /bin/bash inside the client's network namespace (the machine's files). */
export async function clientExec(client: SandboxClient | string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const c = typeof client === "string" ? readClients()[client] : client;
  if (!c) throw new Error(`no sandbox client ${String(client)}`);
  return run("nsenter", [`--net=/run/netns/${c.netns}`, "--", ...BASH_C, command], {
    ...opts,
    env: { PATH: HOST_PATH, HOME: "/root", LANG: "C.UTF-8" },
  });
}

/**
 * Logs a genuine-format pvedaemon web-UI login failure in the host
 * ("pvedaemon[PID]: authentication failure; rhost=ADDR user=USER msg=MSG") via syslog:
 * /var/log/syslog in syslog mode, the journal (SYSLOG_IDENTIFIER=pvedaemon) in journald
 * mode. rhost may be IPv4, IPv6 or IPv4-mapped IPv6 (::ffff:a.b.c.d).
 */
export async function writePvedaemonFailure(
  host: SandboxHost | string,
  rhost: string,
  user = "root@pam",
  msg = "Authentication failure",
): Promise<void> {
  // The script goes in on stdin: the repository may not be visible inside the host.
  const helper = fs.readFileSync(path.join(HOST_LIB, "pvedaemon-authfail.pl"), "utf8");
  const r = await hostExec(host, `/usr/bin/perl - ${[rhost, user, msg].map(shellQuote).join(" ")}`, {
    input: helper,
    timeoutMs: 10_000,
  });
  if (r.code !== 0) throw new Error(`writing the pvedaemon line failed: ${r.stderr}`);
}

export interface SshExecOptions extends ExecOptions {
  /** Log in as the sudo user with its password instead of root with the key. */
  asSudoUser?: boolean;
  /** Pin this host key ("ssh-ed25519 AAAA...") instead of the inventory's. */
  hostPublicKey?: string;
  /** Connect to the host's IPv6 address instead of its IPv4 address. */
  ipv6?: boolean;
}

/** Runs a command over real SSH (ssh2, host key pinned to the inventory's). */
export function sshExec(host: SandboxHost | string, command: string, opts: SshExecOptions = {}): Promise<ExecResult> {
  const h = resolveHost(host);
  // Normalised base64 of the pinned key blob.
  const expected = Buffer.from((opts.hostPublicKey ?? h.hostPublicKey).split(/\s+/)[1], "base64").toString("base64");
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const conn = new Client();
    const timer = setTimeout(() => {
      conn.end();
      reject(new Error(`ssh to ${h.name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on("ready", () => {
      conn.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          conn.end();
          reject(err);
          return;
        }
        let out = "";
        let errb = "";
        let code: number | null = null;
        let signal: string | null = null;
        stream.setEncoding("utf8");
        stream.stderr.setEncoding("utf8");
        stream.on("data", (d: string) => (out += d));
        stream.stderr.on("data", (d: string) => (errb += d));
        stream.on("exit", (c: number | null, s?: string) => {
          code = c;
          signal = s ?? null;
        });
        stream.on("close", () => {
          clearTimeout(timer);
          conn.end();
          resolve({ stdout: out, stderr: errb, code, signal });
        });
        if (opts.input !== undefined) stream.end(opts.input);
        else stream.end();
      });
    });
    conn.connect({
      host: opts.ipv6 ? h.address6 : h.address,
      port: h.sshPort,
      username: opts.asSudoUser ? h.sudoUser.name : h.user,
      ...(opts.asSudoUser ? { password: h.sudoUser.password } : { privateKey: fs.readFileSync(h.privateKeyPath) }),
      hostVerifier: (key: Buffer) => key.toString("base64") === expected,
      readyTimeout: Math.min(timeoutMs, 20_000),
    });
  });
}

/**
 * Throws unless traffic to `address` stays inside the sandbox (routed via phs-m0). Call
 * it before sending test traffic so that a stopped sandbox never sends packets out of
 * the machine.
 */
export async function assertSandboxAddress(address: string): Promise<void> {
  const r = await run("ip", ["-j", "route", "get", address]);
  const dev = r.code === 0 ? (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev : undefined;
  if (dev !== MACHINE_VETH) throw new Error(`${address} is not routed into the sandbox (dev ${dev ?? "none"})`);
}

/** Processes and summed resident memory of one host. */
export function hostMemory(host: SandboxHost | string): { processes: number; rssKiB: number; commands: string[] } {
  const pid = hostPid(host);
  const pidns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  let processes = 0;
  let rssKiB = 0;
  const commands: string[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/pid`) !== pidns) continue;
      const status = fs.readFileSync(`/proc/${e}/status`, "utf8");
      const rss = /VmRSS:\s+(\d+)/.exec(status);
      processes++;
      rssKiB += rss ? Number(rss[1]) : 0;
      commands.push(fs.readFileSync(`/proc/${e}/comm`, "utf8").trim());
    } catch {
      /* gone */
    }
  }
  return { processes, rssKiB, commands };
}
