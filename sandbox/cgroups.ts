/** The nodes' cgroups (v2): where `down` finds all of a node, and how it ends them. */
import * as fs from "node:fs";
import * as path from "node:path";
import { PREFIX } from "./layout";
import { waitFor } from "./process";

/** The cgroup2 hierarchy's mount point on the machine (/sys/fs/cgroup/unified on a hybrid one). */
export function cgroup2Root(): string | undefined {
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[f.indexOf("-") + 1] === "cgroup2") return f[4];
  }
  return undefined;
}

/** Names of node cgroups of any sandbox (PREFIX + pveN) still on the machine. */
export function anyNodeCgroups(): string[] {
  const root = cgroup2Root();
  return root ? fs.readdirSync(root).filter((n) => /^[a-z]{2,5}-pve\d+$/.test(n)) : [];
}

/** Kills everything in this sandbox's node cgroups (PREFIX*) and removes them; returns how many processes. */
export async function removeNodeCgroups(): Promise<number> {
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
