/**
 * npm run sandbox -- up N [--journald] [--mode syslog,journald,...] [--concurrency K]
 * npm run sandbox -- up [N] --nodes debian13,debian12[:syslog],... [--cluster NAME]
 * npm run sandbox -- reboot <node>
 * npm run sandbox -- down
 * npm run sandbox -- status
 * npm run sandbox -- exec <host> <command...>
 */
import { Command, parseCommandLine, USAGE, UsageError } from "./command-line";
import { hostExec, hostMemory } from "./exec";
import { getHost, readInventory } from "./inventory";
import { INVENTORY_PATH } from "./layout";
import { down, up } from "./lifecycle";
import { reboot } from "./nodes";
import { writeSandboxStackConfig } from "./stack-config";

const log = (line: string) => console.log(`[sandbox] ${line}`);

/** The command to run; on a wrong command line, what is wrong and the usage (exit 2). */
function commandOf(argv: string[]): Command {
  try {
    return parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    process.exit(2);
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = commandOf(argv);
  switch (cmd.name) {
    case "help":
      console.log(USAGE);
      return 0;
    case "up": {
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) return;
        interrupted = true;
        log("interrupted: removing what was started");
        void down().finally(() => process.exit(130));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const inv = await up({ ...cmd.up, log });
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
      const t0 = Date.now();
      const h = await reboot(cmd.node);
      log(`${h.name} rebooted and answers SSH in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${h.pid})`);
      return 0;
    }
    case "exec": {
      const r = await hostExec(getHost(cmd.host), cmd.command);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[sandbox] error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
