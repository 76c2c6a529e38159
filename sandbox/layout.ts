/**
 * Where a sandbox keeps its files and what it names its things on the machine: every other
 * sandbox module takes its paths and names from here, so that two sandboxes side by side
 * (PHS_PREFIX, PHS_SANDBOX_DIR) never share one.
 */
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..");
export const SANDBOX_DIR = process.env.PHS_SANDBOX_DIR
  ? path.resolve(process.env.PHS_SANDBOX_DIR)
  : path.join(REPO_ROOT, ".sandbox");
export const INVENTORY_PATH = path.join(SANDBOX_DIR, "inventory.json");
export const KEY_DIR = path.join(SANDBOX_DIR, "keys");
export const CLIENT_KEY_PATH = path.join(KEY_DIR, "id_ed25519");
export const HOSTS_DIR = path.join(SANDBOX_DIR, "hosts");
export const NODES_DIR = path.join(SANDBOX_DIR, "nodes");
export const CLUSTERS_DIR = path.join(SANDBOX_DIR, "clusters");
export const CLIENTS_PATH = path.join(SANDBOX_DIR, "clients.json");
export const RUN_NETNS_MARKER = path.join(SANDBOX_DIR, "run-netns-created");
export const SRC_DIR = __dirname;
export const HOST_INIT = path.join(SRC_DIR, "host-init.sh");
export const HOST_BIN = path.join(SRC_DIR, "host-bin");
export const HOST_LIB = path.join(SRC_DIR, "host-lib");
export const NODE_SRC = path.join(SRC_DIR, "node");

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
export const INIT_NAME = `${PREFIX}init`;
export const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
