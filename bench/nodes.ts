// Start time and memory of systemd-booted sandbox nodes (issue 13.6), recorded in sandbox/README.md.
//   PHS_PREFIX=bn- PHS_SANDBOX_DIR=.sandbox-bn node --import tsx bench/nodes.ts [COUNT...]   (default 1 5 20)
// For each count: `up` of that many nodes (Debian 13 and 12 alternating, journal only), the wall
// time until every node has booted and answers SSH; then each node's memory summed over the
// processes in its cgroup (PSS and RSS, idle after boot); then `down`. A measurement, not a test:
// it asserts nothing about time.
import * as fs from "node:fs";
import * as path from "node:path";
import { cgroup2Root, down, NodeSpec, PREFIX, up } from "../sandbox";

/** PIDs in a cgroup and its children. */
function cgroupPids(dir: string): number[] {
  const own = fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  const children = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => cgroupPids(path.join(dir, e.name)));
  return [...own, ...children];
}

/** Summed PSS and RSS (MiB) of a node's processes. */
function nodeMemory(name: string): { pss: number; rss: number; processes: number } {
  let pss = 0;
  let rss = 0;
  const pids = cgroupPids(path.join(cgroup2Root() ?? "/sys/fs/cgroup", `${PREFIX}${name}`));
  for (const pid of pids) {
    try {
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    } catch {
      /* exited */
    }
  }
  return { pss: pss / 1024, rss: rss / 1024, processes: pids.length };
}

const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function main(): Promise<void> {
  const counts = process.argv.slice(2).map(Number);
  for (const count of counts.length ? counts : [1, 5, 20]) {
    await down();
    const nodes: NodeSpec[] = Array.from({ length: count }, (_, i) => ({ release: i % 2 === 0 ? "trixie" : "bookworm" }));
    const started = Date.now();
    const inventory = await up({ count: 0, nodes, installDeps: false, log: (line) => process.stderr.write(`  ${line}\n`) });
    const upSeconds = (Date.now() - started) / 1000;
    const load = loadavg();
    // Idle: let the units that start after boot settle before reading memory.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const memory = inventory.hosts.map((h) => ({ release: h.release, ...nodeMemory(h.name) }));
    const mean = (release: string, key: "pss" | "rss") => {
      const of = memory.filter((m) => m.release === release);
      return of.length ? (of.reduce((sum, m) => sum + m[key], 0) / of.length).toFixed(0) : "-";
    };
    const downStarted = Date.now();
    await down();
    const downSeconds = (Date.now() - downStarted) / 1000;
    process.stdout.write(
      `${count} node(s): up ${upSeconds.toFixed(1)} s (load ${load}); per node PSS/RSS MiB: Debian 13 ${mean("trixie", "pss")}/${mean("trixie", "rss")}, ` +
        `Debian 12 ${mean("bookworm", "pss")}/${mean("bookworm", "rss")}; down ${downSeconds.toFixed(1)} s\n`,
    );
  }
}

main().catch(async (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  await down().catch(() => undefined);
  process.exit(1);
});
