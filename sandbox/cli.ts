/**
 * npm run sandbox -- up N [--journald] [--mode syslog,journald,...] [--concurrency K]
 * npm run sandbox -- up [N] --nodes debian13,debian12[:syslog],... [--cluster NAME]
 * npm run sandbox -- reboot <node>
 * npm run sandbox -- down
 * npm run sandbox -- status
 * npm run sandbox -- exec <host> <command...>
 */
import { hostExec, hostMemory } from "./exec";
import { getHost, Mode, readInventory, Release } from "./inventory";
import { INVENTORY_PATH } from "./layout";
import { down, up } from "./lifecycle";
import { NodeSpec, reboot } from "./nodes";
import { writeSandboxStackConfig } from "./stack-config";

const log = (line: string) => console.log(`[sandbox] ${line}`);

function usage(): never {
  console.error(
    "usage: npm run sandbox -- up N [--journald] [--mode syslog|journald[,...]] [--concurrency K]\n" +
      "       npm run sandbox -- up [N] --nodes debian13|debian12[:syslog][,...] [--cluster NAME]\n" +
      "       npm run sandbox -- down | status | reboot NODE | exec HOST COMMAND...",
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "up": {
      let count: number | undefined;
      let nodes: NodeSpec[] = [];
      let cluster: string | undefined;
      let journald = false;
      let modes: Mode[] | undefined;
      let concurrency: number | undefined;
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i];
        if (a === "--journald") journald = true;
        else if (a === "--mode" || a.startsWith("--mode=")) {
          const v = a.includes("=") ? a.split("=")[1] : rest[++i];
          const list = (v ?? "").split(",");
          if (!list.every((m) => m === "syslog" || m === "journald")) usage();
          modes = list as Mode[];
        } else if (a === "--nodes") nodes = (rest[++i] ?? "").split(",").map(parseNode);
        else if (a === "--cluster") cluster = rest[++i] ?? usage();
        else if (a === "--concurrency") concurrency = Number(rest[++i]);
        else if (/^\d+$/.test(a)) count = Number(a);
        else usage();
      }
      // Without N only the nodes; with neither, one namespace host as before.
      count ??= nodes.length ? 0 : 1;
      if (cluster) nodes = nodes.map((n) => ({ ...n, cluster }));
      // With a single --mode value, every host gets it.
      if (modes && modes.length === 1) modes = Array<Mode>(count).fill(modes[0]);
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) return;
        interrupted = true;
        log("interrupted: removing what was started");
        void down().finally(() => process.exit(130));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const inv = await up({ count, nodes, journald, modes, concurrency, log });
      for (const h of inv.hosts) log(`${h.name}\t${h.address}\t${h.address6}\t${h.kind} ${h.release}\t${h.mode}\tpid ${h.pid}`);
      log(`stack config for these hosts: ${writeSandboxStackConfig(inv)} (see README: "Try it on the sandbox")`);
      return 0;
    }
    case "down": {
      const r = await down({ log });
      log(`down: ${r.namespaces.length} namespaces removed, ${r.killedProcesses} processes killed`);
      return 0;
    }
    case "status": {
      let inv;
      try {
        inv = readInventory();
      } catch {
        log(`no sandbox (no ${INVENTORY_PATH})`);
        return 1;
      }
      log(`network ${inv.network.ipv4} ${inv.network.ipv6}; machine ${inv.network.machineAddress}`);
      for (const h of inv.hosts) {
        try {
          const m = hostMemory(h);
          log(`${h.name}\t${h.address}\t${h.kind} ${h.release}\t${h.mode}\t${m.processes} processes\t${(m.rssKiB / 1024).toFixed(1)} MiB RSS\t${m.commands.join(",")}`);
        } catch (e) {
          log(`${h.name}\tNOT RUNNING (${(e as Error).message})`);
        }
      }
      return 0;
    }
    case "reboot": {
      if (rest.length !== 1) usage();
      const t0 = Date.now();
      const h = await reboot(rest[0]);
      log(`${h.name} rebooted and answers SSH in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${h.pid})`);
      return 0;
    }
    case "exec": {
      const [host, ...command] = rest;
      if (!host || !command.length) usage();
      const r = await hostExec(getHost(host), command.join(" "));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
    default:
      usage();
  }
}

/** "debian13" or "debian12", optionally ":syslog" (rsyslog besides the journal). */
function parseNode(spec: string): NodeSpec {
  const m = /^debian(12|13)(?::(syslog|journald))?$/.exec(spec);
  if (!m) usage();
  const release: Release = m[1] === "12" ? "bookworm" : "trixie";
  return { release, mode: (m[2] as Mode | undefined) ?? "journald" };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[sandbox] error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
