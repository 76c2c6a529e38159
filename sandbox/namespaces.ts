/**
 * The sandbox's network namespaces: the hub with its bridge and the machine's veth, one
 * namespace per host, node and client plugged into it, and finding the processes inside them.
 */
import * as fs from "node:fs";
import type { SandboxNetwork } from "./network";
import { HUB_NETNS, INIT_NAME, MACHINE_VETH, PREFIX, RUN_NETNS_MARKER } from "./layout";
import { must, run } from "./process";

export async function setupHub(netw: SandboxNetwork): Promise<void> {
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
export async function plugIn(netns: string, hubIf: string, a4: string, a6: string): Promise<void> {
  const ip = (...a: string[]) => must("ip", a);
  await ip("netns", "add", netns);
  await ip("-n", HUB_NETNS, "link", "add", hubIf, "type", "veth", "peer", "name", "eth0", "netns", netns);
  await ip("-n", HUB_NETNS, "link", "set", hubIf, "master", "br0", "up");
  await ip("-n", netns, "link", "set", "lo", "up");
  await ip("-n", netns, "addr", "add", `${a4}/24`, "dev", "eth0");
  await ip("-n", netns, "addr", "add", `${a6}/64`, "dev", "eth0", "nodad");
  await ip("-n", netns, "link", "set", "eth0", "up");
}

/** This sandbox's named network namespaces (PREFIX*). */
export async function listNetns(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(/\s+/)[0])
    .filter((n) => n && n.startsWith(PREFIX));
}

export function nsInode(p: string): string | undefined {
  try {
    return String(fs.statSync(p).ino);
  } catch {
    return undefined;
  }
}

/** PIDs of processes that belong to the sandbox: host inits and anything in a phs-* netns. */
export function sandboxPids(netnsInodes: Set<string>): number[] {
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

/** A node's systemd: the process in the network namespace that is PID 1 of its own PID namespace. */
export function netnsInitPid(netns: string): number | undefined {
  const netIno = nsInode(`/run/netns/${netns}`);
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
