/**
 * The sandbox network as the machine sees it: which documentation ranges are free, whether an
 * address is routed into the sandbox, whether a port answers.
 */
import * as dns from "node:dns";
import * as fs from "node:fs";
import * as net from "node:net";
import { addr4, addr6, overlaps4, overlaps6, V4_CANDIDATES, V6_CANDIDATES } from "./addresses";
import { MACHINE_VETH } from "./layout";
import { must, run } from "./process";

export interface SandboxNetwork {
  /** IPv4 network of the sandbox, e.g. "198.51.100.0/24". */
  ipv4: string;
  /** IPv6 network of the sandbox, e.g. "2001:db8:ff::/64". */
  ipv6: string;
  /** The machine's address on the sandbox network (where tests and Pulumi run). */
  machineAddress: string;
  machineAddress6: string;
}

/** Networks ("a.b.c.d/len", "x::/len") the machine already uses or must keep reaching. */
export interface NetworksInUse {
  v4: string[];
  v6: string[];
}

/**
 * Picks documentation ranges that no address or route of the machine already uses
 * (this machine's own uplink may sit in 192.0.2.0/24). PHS_IPV4_NET / PHS_IPV6_NET
 * override the choice.
 */
export async function chooseNetwork(): Promise<SandboxNetwork> {
  return pickNetwork(await networksInUse(), { ipv4: process.env.PHS_IPV4_NET, ipv6: process.env.PHS_IPV6_NET });
}

/** The first candidate ranges that overlap nothing in use, unless overridden; the machine is the first address of each. */
export function pickNetwork(used: NetworksInUse, override: { ipv4?: string; ipv6?: string } = {}): SandboxNetwork {
  const pick = (env: string | undefined, cands: string[], inUse: string[], ov: (a: string, b: string) => boolean) => {
    if (env) return env;
    const free = cands.find((c) => !inUse.some((u) => ov(c, u)));
    if (!free) throw new Error(`no free sandbox network among ${cands.join(", ")} (in use: ${inUse.join(", ")})`);
    return free;
  };
  const ipv4 = pick(override.ipv4, V4_CANDIDATES, used.v4, overlaps4);
  const ipv6 = pick(override.ipv6, V6_CANDIDATES, used.v6, overlaps6);
  if (!/^\d+\.\d+\.\d+\.(0|64|128|192)\/(24|25|26)$/.test(ipv4)) throw new Error(`sandbox IPv4 network must be a /26 (or larger) aligned to 64: ${ipv4}`);
  if (!/^[0-9a-f:]+::\/64$/.test(ipv6)) throw new Error(`sandbox IPv6 network must be a /64 ending in ::: ${ipv6}`);
  return {
    ipv4,
    ipv6,
    machineAddress: addr4(ipv4, 1),
    machineAddress6: addr6(ipv6, 1),
  };
}

/** The machine's routes and addresses (but this sandbox's own), the package registries and the DNS servers. */
async function networksInUse(): Promise<NetworksInUse> {
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
  return { v4: used4, v6: used6 };
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

export async function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return (await tcpProbe(host, port, timeoutMs)) === "open";
}
