// `ufw status verbose` as a user reads it: the product reads ufw's files instead (complete
// even while ufw is inactive, and one command); tests read what an operator would see.
import { parseAddress } from "../../providers/ufw/address";
import type { UfwPolicy } from "../../providers/ufw/schema";
import { STORED_LOG_LEVELS, UfwStateError, UfwStoredLogLevel } from "../../providers/ufw/state";

export interface StatusRule {
  /** "To" column without "(v6)" markers, e.g. "22/tcp", "8006/tcp on vmbr0", "2001:db8::/32 53/udp". */
  to: string;
  action: "allow" | "deny" | "reject" | "limit";
  /** fwd: a route rule. */
  direction: "in" | "out" | "fwd";
  /** "From" column without "(v6)" markers, e.g. "Anywhere", "10.10.10.0/24". */
  from: string;
  /** From a "(v6)" marker or an IPv6 address in either column. */
  v6: boolean;
  log?: "log" | "log-all";
  comment?: string;
}

export interface UfwStatus {
  active: boolean;
  /** Only shown while active. */
  logging?: UfwStoredLogLevel;
  /** Only shown while active. routed is "disabled" whenever IP forwarding is off, whatever the FORWARD policy. */
  defaults?: { incoming: UfwPolicy; outgoing: UfwPolicy; routed: UfwPolicy | "disabled" };
  /** Grouped as ufw prints them (incoming, then outgoing, then routed; IPv4 before IPv6), not in evaluation order. */
  rules: StatusRule[];
}

const POLICY_WORDS = ["allow", "deny", "reject"];

function looksIPv6(column: string): boolean {
  const first = column.split(" ")[0];
  return first.includes(":") && parseAddress(first).ok;
}

/** Parses `ufw status verbose`. Inactive ufw prints only "Status: inactive", so logging and defaults stay undefined. */
export function parseStatusVerbose(text: string): UfwStatus {
  const lines = text.split("\n");
  const statusLine = lines.find((line) => line.startsWith("Status: "));
  if (!statusLine) throw new UfwStateError(`ufw status output has no "Status:" line: ${JSON.stringify(text.slice(0, 200))}`);
  const status: UfwStatus = { active: statusLine.trim() === "Status: active", rules: [] };

  const logging = /^Logging: (on \((\w+)\)|off)\s*$/m.exec(text);
  if (logging) {
    const level = (logging[2] ?? "off") as UfwStoredLogLevel;
    if (STORED_LOG_LEVELS.includes(level)) status.logging = level;
  }
  const defaults = /^Default: (\w+) \(incoming\), (\w+) \(outgoing\), (\w+) \(routed\)\s*$/m.exec(text);
  if (defaults) {
    const [, incoming, outgoing, routed] = defaults;
    if (POLICY_WORDS.includes(incoming) && POLICY_WORDS.includes(outgoing) && [...POLICY_WORDS, "disabled"].includes(routed)) {
      status.defaults = { incoming: incoming as UfwPolicy, outgoing: outgoing as UfwPolicy, routed: routed as UfwPolicy | "disabled" };
    }
  }

  const header = lines.findIndex((line) => /^--\s+------\s+----\s*$/.test(line));
  if (header === -1) return status;
  for (const line of lines.slice(header + 1)) {
    // Columns are padded, and a long column pushes the next one right, so split on the action words.
    const match = /^(.*?)\s+(ALLOW|DENY|REJECT|LIMIT) (IN|OUT|FWD)\s+(.*)$/.exec(line);
    if (!match) continue;
    let rest = match[4];
    let comment: string | undefined;
    const hash = /(^|\s)# /.exec(rest);
    if (hash) {
      comment = rest.slice(hash.index + hash[0].length).trimEnd();
      rest = rest.slice(0, hash.index);
    }
    let log: StatusRule["log"];
    const attrib = /\s*\((log|log-all)\)\s*$/.exec(rest);
    if (attrib) {
      log = attrib[1] as StatusRule["log"];
      rest = rest.slice(0, attrib.index);
    }
    const rawTo = match[1].trim();
    const rawFrom = rest.trim();
    const stripV6 = (column: string) => column.replace(/ \(v6\)/g, "");
    const rule: StatusRule = {
      to: stripV6(rawTo),
      action: match[2].toLowerCase() as StatusRule["action"],
      direction: match[3].toLowerCase() as StatusRule["direction"],
      from: stripV6(rawFrom),
      v6: /\(v6\)/.test(rawTo + rawFrom) || looksIPv6(rawTo) || looksIPv6(rawFrom),
    };
    if (log) rule.log = log;
    if (comment) rule.comment = comment;
    status.rules.push(rule);
  }
  return status;
}
