// ufw's persistent rule identities: the "### tuple ###" lines of
// /etc/ufw/user.rules (IPv4) and user6.rules (IPv6), written by ufw 0.36 as
//   ### tuple ### ACTION[_LOG] PROTO DPORT DST SPORT SRC [DAPP SAPP] IFACES[ comment=HEX]
// where ACTION may carry a "route:" prefix, IFACES is "in", "out", "in_eth0",
// "out_eth0" or "in_eth0!out_eth1", DAPP/SAPP are application names ("-" for
// none, %20 for spaces) and HEX is the UTF-8 comment in hex.
import type { AddressFamily } from "./address";
import type { UfwAction, UfwRule } from "./schema";

export interface UfwTuple {
  family: AddressFamily;
  action: UfwAction;
  /** ufw's per-rule logging option; rules made by this program never set it. */
  log: "" | "log" | "log-all";
  /** A `ufw route` rule (FORWARD chain). */
  route: boolean;
  /** tcp, udp, any, or another protocol ufw knows (esp, ah, gre, ...). */
  protocol: string;
  /** Destination port spec or "any". */
  dport: string;
  /** Destination, as ufw stores it: 0.0.0.0/0 or ::/0 for anywhere. */
  dst: string;
  sport: string;
  src: string;
  /** Application profile names; "" when none. */
  dapp: string;
  sapp: string;
  direction: "in" | "out";
  /** "" when none. */
  interfaceIn: string;
  interfaceOut: string;
  /** Decoded comment; "" when none. */
  comment: string;
}

const ACTIONS: readonly string[] = ["allow", "deny", "reject", "limit"];
const TUPLE_PREFIX = /^### tuple ###\s*/;

const anywhere = (family: AddressFamily): string => (family === "v4" ? "0.0.0.0/0" : "::/0");

function decodeComment(hex: string): string {
  // ufw drops a trailing odd nibble rather than failing; do the same.
  const even = hex.length % 2 ? hex.slice(0, -1) : hex;
  return /^[0-9a-fA-F]*$/.test(even) ? Buffer.from(even, "hex").toString("utf8") : "";
}

/**
 * Parses user.rules (family "v4") or user6.rules ("v6") into tuples, in file
 * order (ufw's evaluation order). Malformed tuple lines are skipped, as ufw
 * itself skips them (with a warning) when loading.
 */
export function parseUserRules(text: string, family: AddressFamily): UfwTuple[] {
  const tuples: UfwTuple[] = [];
  for (const rawLine of text.split("\n")) {
    if (!TUPLE_PREFIX.test(rawLine)) continue;
    // comment= is always last; ufw splits it off before reading the fields.
    const [line, hex] = rawLine.split(" comment=");
    const fields = line.replace(TUPLE_PREFIX, "").trim().split(/\s+/);
    if (fields.length < 6 || fields.length > 9) continue;

    const [actionField, protocol, dport, dst, sport, src] = fields;
    const route = actionField.startsWith("route:");
    const [action, log = ""] = actionField.replace(/^route:/, "").split("_");
    if (!ACTIONS.includes(action) || !["", "log", "log-all"].includes(log)) continue;

    // 6 and 8 fields are a pre-0.30 format without direction: ufw reads those as "in".
    let direction: "in" | "out" = "in";
    let interfaceIn = "";
    let interfaceOut = "";
    if (fields.length === 7 || fields.length === 9) {
      const ifaces = fields[fields.length - 1];
      const both = /^in_([^!]+)!out_(.+)$/.exec(ifaces);
      if (both) [interfaceIn, interfaceOut] = [both[1], both[2]];
      else if (ifaces.startsWith("in_")) interfaceIn = ifaces.slice(3);
      else if (ifaces.startsWith("out_")) interfaceOut = ifaces.slice(4);
      else if (ifaces !== "in" && ifaces !== "out") continue;
      direction = ifaces.startsWith("out") ? "out" : "in";
    }
    const app = (field: string | undefined) => (field === undefined || field === "-" ? "" : field.replace(/%20/g, " "));
    const hasApps = fields.length >= 8;
    tuples.push({
      family,
      action: action as UfwAction,
      log: log as UfwTuple["log"],
      route,
      protocol,
      dport,
      dst,
      sport,
      src,
      dapp: hasApps ? app(fields[6]) : "",
      sapp: hasApps ? app(fields[7]) : "",
      direction,
      interfaceIn,
      interfaceOut,
      comment: hex === undefined ? "" : decodeComment(hex.trim()),
    });
  }
  return tuples;
}

/** IP families a rule lands in: both for from/to "any", otherwise the family of its address. */
export function ruleFamilies(rule: UfwRule): AddressFamily[] {
  const address = [rule.from, rule.to].find((value) => value !== "any");
  if (address === undefined) return ["v4", "v6"];
  return [address.includes(":") ? "v6" : "v4"];
}

/**
 * The tuple(s) ufw stores for a rule: IPv4 in user.rules, IPv6 in user6.rules.
 * A rule for "any" address only gets its IPv6 twin when IPv6 is on (IPV6=yes
 * in /etc/default/ufw); an IPv6-only rule always yields its v6 tuple (ufw
 * refuses to add it while IPv6 is off: "IPv6 support not enabled").
 */
export function ruleToTuples(rule: UfwRule, options: { ipv6?: boolean } = {}): UfwTuple[] {
  const ipv6 = options.ipv6 ?? true;
  const families = ruleFamilies(rule);
  const wanted = families.length === 2 && !ipv6 ? ["v4" as const] : families;
  return wanted.map((family) => ({
    family,
    action: rule.action,
    log: "",
    route: false,
    protocol: rule.protocol,
    dport: rule.port ?? "any",
    dst: rule.to === "any" ? anywhere(family) : rule.to,
    sport: "any",
    src: rule.from === "any" ? anywhere(family) : rule.from,
    dapp: "",
    sapp: "",
    direction: rule.direction,
    interfaceIn: rule.direction === "in" ? (rule.interface ?? "") : "",
    interfaceOut: rule.direction === "out" ? (rule.interface ?? "") : "",
    comment: rule.comment ?? "",
  }));
}

/**
 * What ufw compares to decide that two rules are "the same rule": everything
 * but action, log option and comment. Adding a rule whose identity exists
 * replaces that rule in place (same position) instead of adding another.
 */
export function tupleIdentity(tuple: UfwTuple): string {
  const { family, protocol, dport, dst, sport, src, dapp, sapp, direction, interfaceIn, interfaceOut, route } = tuple;
  return JSON.stringify([family, protocol, dport, dst, sport, src, dapp, sapp, direction, interfaceIn, interfaceOut, route]);
}

export interface TupleMatch {
  expected: UfwTuple;
  /** The stored tuple with the same identity, if any; its action or comment may differ. */
  found?: UfwTuple;
}

/** Pairs each tuple the rule needs with the stored tuple of the same identity. */
export function findRuleTuples(
  rule: UfwRule,
  tuplesV4: readonly UfwTuple[],
  tuplesV6: readonly UfwTuple[],
  options: { ipv6?: boolean } = {},
): TupleMatch[] {
  return ruleToTuples(rule, options).map((expected) => {
    const stored = expected.family === "v4" ? tuplesV4 : tuplesV6;
    const identity = tupleIdentity(expected);
    const found = stored.find((tuple) => tupleIdentity(tuple) === identity);
    return found ? { expected, found } : { expected };
  });
}

/** True when every tuple the rule needs is stored with its action and comment: adopt it, add nothing. */
export function exactlyStored(matches: readonly TupleMatch[]): boolean {
  return matches.every((match) => match.found && match.found.action === match.expected.action && match.found.comment === match.expected.comment);
}

/**
 * The rule lists ufw will hold after adding `rules` in order: a rule whose
 * identity is stored replaces it in place, any other is appended (ufw's add).
 */
export function predictUserRules(
  stored: { v4: readonly UfwTuple[]; v6: readonly UfwTuple[] },
  rules: readonly UfwRule[],
  options: { ipv6?: boolean } = {},
): { v4: UfwTuple[]; v6: UfwTuple[] } {
  const result = { v4: [...stored.v4], v6: [...stored.v6] };
  for (const rule of rules) {
    for (const tuple of ruleToTuples(rule, options)) {
      const list = result[tuple.family];
      const index = list.findIndex((existing) => tupleIdentity(existing) === tupleIdentity(tuple));
      if (index === -1) list.push(tuple);
      else list[index] = tuple;
    }
  }
  return result;
}

/** The rule lists ufw will hold after `ufw delete` of `rule`: its stored tuples gone (ufw deletes only those with its action too). */
export function predictAfterDelete(
  stored: { v4: readonly UfwTuple[]; v6: readonly UfwTuple[] },
  rule: UfwRule,
  options: { ipv6?: boolean } = {},
): { v4: UfwTuple[]; v6: UfwTuple[] } {
  const key = (tuple: UfwTuple) => `${tuple.action} ${tupleIdentity(tuple)}`;
  const gone = new Set(ruleToTuples(rule, options).map(key));
  const kept = (tuples: readonly UfwTuple[]) => tuples.filter((tuple) => !gone.has(key(tuple)));
  return { v4: kept(stored.v4), v6: kept(stored.v6) };
}
