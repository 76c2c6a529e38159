/** The hosts a sandbox runs, as `up` records them in .sandbox/inventory.json. */
import * as fs from "node:fs";
import { INVENTORY_PATH } from "./layout";
import type { SandboxNetwork } from "./network";

export type Mode = "syslog" | "journald";
/** Debian 12 (Proxmox VE 8's base) or Debian 13 (Proxmox VE 9's base). */
export type Release = "bookworm" | "trixie";
/** "namespace": namespaces on the machine's own files; "node": a systemd-booted Debian (nspawn). */
export type HostKind = "namespace" | "node";

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

export function readInventory(file: string = INVENTORY_PATH): Inventory {
  if (!fs.existsSync(file)) throw new Error(`no sandbox inventory at ${file}: run 'npm run sandbox -- up N'`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Inventory;
}

export function writeInventory(inv: Inventory, file: string = INVENTORY_PATH): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(inv, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

/** A host of the current inventory by name ("pve1") or 0-based index. */
export function getHost(which: string | number, inv: Inventory = readInventory()): SandboxHost {
  const h = typeof which === "number" ? inv.hosts[which] : inv.hosts.find((x) => x.name === which);
  if (!h) throw new Error(`no sandbox host ${which}`);
  return h;
}

export function resolveHost(host: SandboxHost | string): SandboxHost {
  return typeof host === "string" ? getHost(host) : host;
}
