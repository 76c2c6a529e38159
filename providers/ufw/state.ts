// Parsers for ufw's live state: its config files (cheap to read with one
// command, and complete even while ufw is inactive).
import type { UfwLogLevel, UfwPolicy } from "./schema";
import { UfwTuple, parseUserRules } from "./tuples";

/** The levels ufw.conf can hold ("on" is only a command). */
export type UfwStoredLogLevel = Exclude<UfwLogLevel, "on">;
export const STORED_LOG_LEVELS: readonly UfwStoredLogLevel[] = ["off", "low", "medium", "high", "full"];

export interface UfwPolicies {
  incoming: UfwPolicy;
  outgoing: UfwPolicy;
  routed: UfwPolicy;
}

/** Raised when a config file is unusable; ufw itself refuses to run on such files. */
export class UfwStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UfwStateError";
  }
}

/** Reads KEY=value lines of a shell-style config file; quotes are stripped, later lines win, comments ignored. */
export function parseKeyValueFile(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2].trim();
    const quoted = /^"([^"]*)"|^'([^']*)'/.exec(value);
    if (quoted) value = quoted[1] ?? quoted[2];
    else value = value.replace(/\s+#.*$/, "");
    values[match[1]] = value;
  }
  return values;
}

const POLICY_OF: Record<string, UfwPolicy> = { accept: "allow", drop: "deny", reject: "reject" };

export interface UfwDefaultsFile {
  /** IPV6=yes: ufw manages ip6tables too. With IPV6=no an active ufw drops all IPv6 except loopback. */
  ipv6: boolean;
  defaults: UfwPolicies;
}

/** Parses /etc/default/ufw (DEFAULT_INPUT_POLICY="DROP", IPV6=yes, ...). Values are case-insensitive, as for ufw. */
export function parseDefaultsFile(text: string): UfwDefaultsFile {
  const values = parseKeyValueFile(text);
  const policy = (key: string): UfwPolicy => {
    const raw = values[key];
    const mapped = raw === undefined ? undefined : POLICY_OF[raw.toLowerCase()];
    if (!mapped) {
      const found = raw === undefined ? "it is missing" : `found ${JSON.stringify(raw)}`;
      throw new UfwStateError(`/etc/default/ufw: ${key} must be "ACCEPT", "DROP" or "REJECT" but ${found}`);
    }
    return mapped;
  };
  return {
    ipv6: (values.IPV6 ?? "").toLowerCase() === "yes",
    defaults: {
      incoming: policy("DEFAULT_INPUT_POLICY"),
      outgoing: policy("DEFAULT_OUTPUT_POLICY"),
      routed: policy("DEFAULT_FORWARD_POLICY"),
    },
  };
}

export interface UfwConf {
  /** ENABLED=yes: ufw is (or will be, at boot) active. */
  enabled: boolean;
  /** Undefined when LOGLEVEL is missing or unknown; ufw then sets "low" when it next starts. */
  logging: UfwStoredLogLevel | undefined;
}

/** Parses /etc/ufw/ufw.conf (ENABLED=yes|no, LOGLEVEL=low). */
export function parseUfwConf(text: string): UfwConf {
  const values = parseKeyValueFile(text);
  const level = (values.LOGLEVEL ?? "").toLowerCase();
  return {
    enabled: (values.ENABLED ?? "").toLowerCase() === "yes",
    logging: STORED_LOG_LEVELS.find((known) => known === level),
  };
}

// ------------------------------------------------------------------ one read of all files

export const UFW_FILES = {
  defaults: "/etc/default/ufw",
  conf: "/etc/ufw/ufw.conf",
  userRules: "/etc/ufw/user.rules",
  user6Rules: "/etc/ufw/user6.rules",
} as const;

/**
 * One command printing every state file, each after a "==> path <==" header.
 * A missing file only costs its section (tail reports it on stderr and exits 1).
 */
export const STATE_READ_COMMAND: readonly string[] = ["tail", "-n", "+1", "--", ...Object.values(UFW_FILES)];

/** Splits `tail -n +1 FILE...` output into file contents by path. */
export function splitFileBundle(stdout: string): Record<string, string> {
  const files: Record<string, string> = {};
  let current: string | undefined;
  let lines: string[] = [];
  // tail puts "\n" before each header after the first, so joining a file's lines restores it exactly.
  const flush = () => {
    if (current !== undefined) files[current] = lines.join("\n");
  };
  for (const line of stdout.split("\n")) {
    const header = /^==> (.+) <==$/.exec(line);
    if (header) {
      flush();
      current = header[1];
      lines = [];
    } else if (current !== undefined) {
      lines.push(line);
    }
  }
  flush();
  return files;
}

export interface UfwFileState {
  enabled: boolean;
  logging: UfwStoredLogLevel | undefined;
  defaults: UfwPolicies;
  ipv6: boolean;
  /** Stored rules in file order, which is ufw's evaluation order. */
  tuplesV4: UfwTuple[];
  /** Empty when IPV6=no: ufw ignores user6.rules then. */
  tuplesV6: UfwTuple[];
}

/** The stored rules by address family, as the predictions and verdicts over them take them. */
export const storedTuples = (state: UfwFileState): { v4: UfwTuple[]; v6: UfwTuple[] } => ({ v4: state.tuplesV4, v6: state.tuplesV6 });

/**
 * ufw is on and its incoming policy (the node's, or `incoming` as a change would set it) refuses
 * what no rule allows: only then can a change cut a connection.
 */
export const filtersIncoming = (state: UfwFileState, incoming = state.defaults.incoming): boolean => state.enabled && incoming !== "allow";

/** Combines the state files (by path, as from splitFileBundle) into ufw's configured state. */
export function parseUfwFiles(files: Record<string, string>): UfwFileState {
  const read = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new UfwStateError(`${path} could not be read; is ufw installed?`);
    return text;
  };
  const defaultsFile = parseDefaultsFile(read(UFW_FILES.defaults));
  const conf = parseUfwConf(read(UFW_FILES.conf));
  return {
    enabled: conf.enabled,
    logging: conf.logging,
    defaults: defaultsFile.defaults,
    ipv6: defaultsFile.ipv6,
    tuplesV4: parseUserRules(read(UFW_FILES.userRules), "v4"),
    tuplesV6: defaultsFile.ipv6 ? parseUserRules(read(UFW_FILES.user6Rules), "v6") : [],
  };
}
