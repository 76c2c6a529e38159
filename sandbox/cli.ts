/**
 * npm run sandbox -- up N [--journald] [--mode syslog,journald,...] [--concurrency K]
 * npm run sandbox -- up [N] --nodes debian13,debian12[:syslog],... [--cluster NAME]
 * npm run sandbox -- reboot <node>
 * npm run sandbox -- down
 * npm run sandbox -- status
 * npm run sandbox -- exec <host> <command...>
 */
import { parseArgs, ParseArgsConfig } from "node:util";
import { hostExec, hostMemory } from "./exec";
import { getHost, Mode, readInventory, Release } from "./inventory";
import { INVENTORY_PATH } from "./layout";
import { down, up } from "./lifecycle";
import { NodeSpec, reboot } from "./nodes";
import { writeSandboxStackConfig } from "./stack-config";

const log = (line: string) => console.log(`[sandbox] ${line}`);

const USAGE =
  "usage: npm run sandbox -- up N [--journald] [--mode syslog|journald[,...]] [--concurrency K]\n" +
  "       npm run sandbox -- up [N] --nodes debian13|debian12[:syslog][,...] [--cluster NAME]\n" +
  "       npm run sandbox -- down | status | reboot NODE | exec HOST COMMAND...";

/** A wrong command line: what is wrong, then the usage. */
function usage(problem: string): never {
  console.error(`${problem}\n${USAGE}`);
  process.exit(2);
}

const help = { type: "boolean", short: "h" } as const;

/** One command's arguments; --help prints the usage, an unknown option or a missing value fails with parseArgs's message. */
function parseCommand<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    usage(`${command}: ${(error as Error).message}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(USAGE);
    process.exit(0);
  }
  return parsed;
}

interface UpArgs {
  count: number;
  nodes: NodeSpec[];
  journald: boolean;
  modes?: Mode[];
  concurrency?: number;
}

function parseUp(args: string[]): UpArgs {
  const { values, positionals } = parseCommand("up", {
    args,
    allowPositionals: true,
    options: {
      journald: { type: "boolean", default: false },
      mode: { type: "string" },
      nodes: { type: "string" },
      cluster: { type: "string" },
      concurrency: { type: "string" },
      help,
    },
  });
  if (positionals.length > 1 || !positionals.every((a) => /^\d+$/.test(a))) usage(`up: one host count N, got ${positionals.join(" ")}`);
  let nodes = values.nodes === undefined ? [] : values.nodes.split(",").map(parseNode);
  // Without N only the nodes; with neither, one namespace host as before.
  const count = positionals.length ? Number(positionals[0]) : nodes.length ? 0 : 1;
  if (values.cluster !== undefined) nodes = nodes.map((n) => ({ ...n, cluster: values.cluster }));
  let modes: Mode[] | undefined;
  if (values.mode !== undefined) {
    const list = values.mode.split(",");
    if (!list.every((m) => m === "syslog" || m === "journald")) usage(`up: --mode takes syslog or journald (comma-separated per host), got ${values.mode}`);
    // With a single --mode value, every host gets it.
    modes = list.length === 1 ? Array<Mode>(count).fill(list[0] as Mode) : (list as Mode[]);
  }
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) usage(`up: --concurrency takes a whole number from 1, got ${values.concurrency}`);
  return { count, nodes, journald: values.journald, modes, concurrency };
}

/** "debian13" or "debian12", optionally ":syslog" (rsyslog besides the journal). */
function parseNode(spec: string): NodeSpec {
  const m = /^debian(12|13)(?::(syslog|journald))?$/.exec(spec);
  if (!m) usage(`up: --nodes takes debian13 or debian12, each optionally :syslog or :journald, got ${JSON.stringify(spec)}`);
  const release: Release = m[1] === "12" ? "bookworm" : "trixie";
  return { release, mode: (m[2] as Mode | undefined) ?? "journald" };
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "up": {
      const args = parseUp(rest);
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) return;
        interrupted = true;
        log("interrupted: removing what was started");
        void down().finally(() => process.exit(130));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const inv = await up({ ...args, log });
      for (const h of inv.hosts) log(`${h.name}\t${h.address}\t${h.address6}\t${h.kind} ${h.release}\t${h.mode}\tpid ${h.pid}`);
      log(`stack config for these hosts: ${writeSandboxStackConfig(inv)} (see README: "Try it on the sandbox")`);
      return 0;
    }
    case "down": {
      parseCommand(cmd, { args: rest, options: { help } });
      const r = await down({ log });
      log(`down: ${r.namespaces.length} namespaces removed, ${r.killedProcesses} processes killed`);
      return 0;
    }
    case "status": {
      parseCommand(cmd, { args: rest, options: { help } });
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
      const { positionals } = parseCommand(cmd, { args: rest, allowPositionals: true, options: { help } });
      if (positionals.length !== 1) usage("reboot: name one node");
      const t0 = Date.now();
      const h = await reboot(positionals[0]);
      log(`${h.name} rebooted and answers SSH in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${h.pid})`);
      return 0;
    }
    case "exec": {
      // Only the host is parsed: every word after it is the command, options included (exec pve1 ls -l /etc).
      const { positionals } = parseCommand(cmd, { args: rest.slice(0, 1), allowPositionals: true, options: { help } });
      const [host] = positionals;
      const command = rest.slice(1);
      if (!host || !command.length) usage("exec: name a host and a command");
      const r = await hostExec(getHost(host), command.join(" "));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      usage(cmd === undefined ? "name a command" : `unknown command: ${cmd}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[sandbox] error: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
