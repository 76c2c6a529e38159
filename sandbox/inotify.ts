/**
 * Room for the nodes' inotify instances: nodes share root's fs.inotify.max_user_instances with
 * everything else root runs, and a systemd that gets none fails to boot half-way. When they would not
 * fit, the limit is raised for the run (runtime kernel state, not /etc); the first sandbox to raise it
 * records the value it found, and the last `down` that leaves no node of any sandbox puts it back.
 */
import * as fs from "node:fs";
import { anyNodeCgroups } from "./cgroups";
import { withMachineLock } from "./process";

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

/** Raises the limit for the run when `nodes` more would not fit. */
export async function ensureInotifyBudget(nodes: number, log: (line: string) => void): Promise<void> {
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

/** Puts back the inotify limit a sandbox raised, once no sandbox has a node left, unless someone else changed it since. */
export async function restoreInotifyLimit(log: (line: string) => void): Promise<void> {
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
