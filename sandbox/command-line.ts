/** The sandbox CLI's command line (pure): which command, with what, or what is wrong with it. */
import { parseArgs, ParseArgsConfig } from "node:util";
import type { Mode, Release } from "./inventory";
import type { NodeSpec } from "./nodes";

export const USAGE =
  "usage: npm run sandbox -- up N [--journald] [--mode syslog|journald[,...]] [--concurrency K]\n" +
  "       npm run sandbox -- up [N] --nodes debian13|debian12[:syslog][,...] [--cluster NAME]\n" +
  "       npm run sandbox -- down | status | reboot NODE | exec HOST COMMAND...";

/** A command line the CLI cannot run; the message says what is wrong (the usage goes after it). */
export class UsageError extends Error {}

export interface UpArgs {
  count: number;
  nodes: NodeSpec[];
  journald: boolean;
  modes?: Mode[];
  concurrency?: number;
}

export type Command =
  | { name: "help" }
  | { name: "up"; up: UpArgs }
  | { name: "down" }
  | { name: "status" }
  | { name: "reboot"; node: string }
  | { name: "exec"; host: string; command: string };

const help = { type: "boolean", short: "h" } as const;

/** parseArgs, its errors as UsageError prefixed by the command; undefined when --help was asked. */
function parseCommand<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> | undefined {
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
  return (parsed.values as { help?: boolean }).help ? undefined : parsed;
}

export function parseCommandLine(argv: string[]): Command {
  const [name, ...rest] = argv;
  switch (name) {
    case "up": {
      const up = parseUp(rest);
      return up ? { name, up } : { name: "help" };
    }
    case "down":
    case "status":
      return parseCommand(name, { args: rest, options: { help } }) ? { name } : { name: "help" };
    case "reboot": {
      const parsed = parseCommand(name, { args: rest, allowPositionals: true, options: { help } });
      if (!parsed) return { name: "help" };
      if (parsed.positionals.length !== 1) throw new UsageError("reboot: name one node");
      return { name, node: parsed.positionals[0] };
    }
    case "exec": {
      // Only the host is parsed: every word after it is the command, options included (exec pve1 ls -l).
      const parsed = parseCommand(name, { args: rest.slice(0, 1), allowPositionals: true, options: { help } });
      if (!parsed) return { name: "help" };
      const [host] = parsed.positionals;
      if (!host || rest.length < 2) throw new UsageError("exec: name a host and a command");
      return { name, host, command: rest.slice(1).join(" ") };
    }
    case "--help":
    case "-h":
      return { name: "help" };
    default:
      throw new UsageError(name === undefined ? "name a command" : `unknown command: ${name}`);
  }
}

function parseUp(args: string[]): UpArgs | undefined {
  const parsed = parseCommand("up", {
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
  if (!parsed) return undefined;
  const { values, positionals } = parsed;
  if (positionals.length > 1 || !positionals.every((a) => /^\d+$/.test(a))) throw new UsageError(`up: one host count N, got ${positionals.join(" ")}`);
  let nodes = values.nodes === undefined ? [] : values.nodes.split(",").map(parseNode);
  // Without N only the nodes; with neither, one namespace host as before.
  const count = positionals.length ? Number(positionals[0]) : nodes.length ? 0 : 1;
  if (values.cluster !== undefined) nodes = nodes.map((n) => ({ ...n, cluster: values.cluster }));
  let modes: Mode[] | undefined;
  if (values.mode !== undefined) {
    const list = values.mode.split(",");
    if (!list.every((m) => m === "syslog" || m === "journald")) throw new UsageError(`up: --mode takes syslog or journald (comma-separated per host), got ${values.mode}`);
    // With a single --mode value, every host gets it.
    modes = list.length === 1 ? Array<Mode>(count).fill(list[0] as Mode) : (list as Mode[]);
  }
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new UsageError(`up: --concurrency takes a whole number from 1, got ${values.concurrency}`);
  }
  return { count, nodes, journald: values.journald, modes, concurrency };
}

/** "debian13" or "debian12", optionally ":syslog" (rsyslog besides the journal). */
function parseNode(spec: string): NodeSpec {
  const m = /^debian(12|13)(?::(syslog|journald))?$/.exec(spec);
  if (!m) throw new UsageError(`up: --nodes takes debian13 or debian12, each optionally :syslog or :journald, got ${JSON.stringify(spec)}`);
  const release: Release = m[1] === "12" ? "bookworm" : "trixie";
  return { release, mode: (m[2] as Mode | undefined) ?? "journald" };
}
