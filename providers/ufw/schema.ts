// zod schemas for the UFW resources: the single source of truth for input
// types, validation (with messages that say what is allowed) and the generated
// config reference. Outputs are normalized to the form ufw stores, so a
// validated rule predicts its user.rules tuple exactly and diffs stay quiet.
import { z } from "zod";
import { isAnywhere, parseAddress } from "./address";

/** Builds the strict-object error hook: unknown fields name what is allowed. */
function strictObjectError(what: string, allowed: readonly string[]) {
  return (issue: { code?: string; keys?: string[] }) => {
    if (issue.code === "unrecognized_keys") {
      return `unknown field(s) ${(issue.keys ?? []).join(", ")} in ${what}; allowed fields: ${allowed.join(", ")}`;
    }
    if (issue.code === "invalid_type") return `${what} must be an object with fields: ${allowed.join(", ")}`;
    return undefined;
  };
}

function enumOf<const T extends readonly [string, ...string[]]>(values: T, what: string) {
  return z.enum(values, {
    error: (issue) => `${what} must be one of ${values.join(", ")} (got ${JSON.stringify(issue.input)})`,
  });
}

export const UFW_ACTIONS = ["allow", "deny", "reject", "limit"] as const;
export const UFW_DIRECTIONS = ["in", "out"] as const;
export const UFW_PROTOCOLS = ["tcp", "udp", "any"] as const;
export const UFW_POLICIES = ["allow", "deny", "reject"] as const;
/** "on" is not a stored level: ufw turns it into "low" when logging is off, otherwise keeps the level. */
export const UFW_LOG_LEVELS = ["off", "on", "low", "medium", "high", "full"] as const;

export type UfwAction = (typeof UFW_ACTIONS)[number];
export type UfwPolicy = (typeof UFW_POLICIES)[number];
export type UfwLogLevel = (typeof UFW_LOG_LEVELS)[number];

// ------------------------------------------------------------------ ports

/** iptables multiport matches at most 15 ports; a range takes two of them. */
const MAX_PORT_SLOTS = 15;
const MAX_PORT_TEXT = 100;

interface PortEntry {
  low: number;
  high?: number;
}

const portNumber = (text: string): number | undefined =>
  /^[1-9][0-9]{0,4}$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined;

/** Parses "22", "60000:60050", "80,443" into ufw's stored form (sorted like ufw's human_sort), or explains the problem. */
export function normalizePortSpec(raw: number | string): { ok: true; port: string } | { ok: false; reason: string } {
  const allowed = 'use a port 1-65535 (22), a range low:high (60000:60050) or a comma-separated list of those (80,443)';
  if (typeof raw === "number") {
    return Number.isInteger(raw) && raw >= 1 && raw <= 65535
      ? { ok: true, port: String(raw) }
      : { ok: false, reason: `port ${raw} is not a whole number from 1 to 65535; ${allowed}` };
  }
  if (raw.length > MAX_PORT_TEXT) return { ok: false, reason: `port is ${raw.length} characters long (at most ${MAX_PORT_TEXT}); ${allowed}` };
  if (!/^[0-9:,]+$/.test(raw)) {
    return { ok: false, reason: `port ${JSON.stringify(raw)} may only contain digits, ':' and ',' (service names are not accepted); ${allowed}` };
  }
  const entries: PortEntry[] = [];
  for (const item of raw.split(",")) {
    const bounds = item.split(":");
    const numbers = bounds.map(portNumber);
    if (bounds.length > 2 || numbers.some((n) => n === undefined)) {
      return { ok: false, reason: `port entry ${JSON.stringify(item)} in ${JSON.stringify(raw)} is not valid; ${allowed}` };
    }
    const [low, high] = numbers as number[];
    if (high !== undefined && low >= high) {
      const fix = low === high ? `write the single port ${low}` : `write it as ${high}:${low}`;
      return { ok: false, reason: `port range ${item} must go from low to high: ${fix}` };
    }
    entries.push(high === undefined ? { low } : { low, high });
  }
  const slots = entries.reduce((sum, entry) => sum + (entry.high === undefined ? 1 : 2), 0);
  if (slots > MAX_PORT_SLOTS) {
    return { ok: false, reason: `port ${raw} uses ${slots} port slots; ufw allows at most ${MAX_PORT_SLOTS} (a range counts as two): split it into several rules` };
  }
  const texts = entries.map((entry) => (entry.high === undefined ? `${entry.low}` : `${entry.low}:${entry.high}`));
  const duplicate = texts.find((text, index) => texts.indexOf(text) !== index);
  if (duplicate) return { ok: false, reason: `port ${raw} lists ${duplicate} twice` };
  // ufw sorts ports numerically before storing; a single port sorts before a range starting at it.
  const order = (entry: PortEntry) => [entry.low, entry.high === undefined ? 0 : 1, entry.high ?? 0];
  entries.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return { ok: true, port: entries.map((entry) => (entry.high === undefined ? `${entry.low}` : `${entry.low}:${entry.high}`)).join(",") };
}

/** True when ufw treats the port as "multiple ports" (a list or a range), which needs tcp or udp. */
const isMultiPort = (port: string): boolean => port.includes(",") || port.includes(":");

const PortSpec = z
  .union([z.number(), z.string()], { error: "port must be a number (22) or a string (\"22\", \"60000:60050\", \"80,443\")" })
  .transform((raw, ctx) => {
    const result = normalizePortSpec(raw);
    if (result.ok) return result.port;
    ctx.addIssue({ code: "custom", message: result.reason, input: raw });
    return z.NEVER;
  });

/** A single TCP port, e.g. the SSH port the program connects to. */
export const PortNumber = z
  .number({ error: "must be a port number from 1 to 65535" })
  .int("must be a whole port number from 1 to 65535")
  .min(1, "must be a port number from 1 to 65535")
  .max(65535, "must be a port number from 1 to 65535");

// ------------------------------------------------------------------ addresses

function addressSchema(allowAny: boolean) {
  const expected = allowAny
    ? '"any", an IPv4/IPv6 address or a CIDR network'
    : "an IPv4/IPv6 address or a CIDR network";
  return z.string({ error: `must be ${expected}` }).transform((raw, ctx) => {
    if (raw === "any") {
      if (allowAny) return raw;
      ctx.addIssue({ code: "custom", message: `"any" is not allowed here; give ${expected}`, input: raw });
      return z.NEVER;
    }
    const parsed = parseAddress(raw);
    if (parsed.ok && !allowAny && isAnywhere(parsed.address.canonical)) {
      // The same as "any", spelt as a network: every address of its family.
      ctx.addIssue({ code: "custom", message: `${raw} means every address, like "any", which is not allowed here; give ${expected}`, input: raw });
      return z.NEVER;
    }
    if (parsed.ok) return parsed.address.canonical;
    ctx.addIssue({ code: "custom", message: `${parsed.reason}; allowed: ${expected}`, input: raw });
    return z.NEVER;
  });
}

// ------------------------------------------------------------------ interface and comment

/** Words ufw's rule parser treats as syntax; an interface or comment equal to one breaks the command. */
const UFW_KEYWORDS = ["in", "out", "on", "proto", "from", "to", "port", "app", "comment", "log", "log-all"];

const IFACE_ALLOWED = "1-15 characters from letters, digits and _ . - + , = % @ (no '/', ':', whitespace or quotes)";
const InterfaceName = z.string({ error: `interface must be a string of ${IFACE_ALLOWED}` }).superRefine((name, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: name });
  if (name.length === 0 || name.length > 15) return fail(`interface name is ${name.length} characters long; Linux allows ${IFACE_ALLOWED}`);
  // The character set ufw itself enforces (kernel rules minus shell-special characters).
  if (!/^[A-Za-z0-9_.+,=%@-]+$/.test(name)) return fail(`interface name ${JSON.stringify(name)} is not valid; use ${IFACE_ALLOWED}`);
  if (name === "." || name === "..") return fail(`interface name cannot be "." or ".."`);
  if (name.startsWith("-")) return fail(`interface name ${JSON.stringify(name)} cannot start with '-'`);
  if (UFW_KEYWORDS.includes(name.toLowerCase())) return fail(`interface name "${name}" is a ufw keyword (${UFW_KEYWORDS.join(", ")}) and would be misparsed`);
});

const MAX_COMMENT_LENGTH = 100;
const COMMENT_ALLOWED = `letters, digits, spaces and _ . , : / @ + = % - (at most ${MAX_COMMENT_LENGTH} characters)`;
const Comment = z.string({ error: `comment must be a string of ${COMMENT_ALLOWED}` }).superRefine((text, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: text });
  if (text.length === 0) return fail("comment is empty; leave the field out instead");
  if (text.length > MAX_COMMENT_LENGTH) return fail(`comment is ${text.length} characters long; allowed: ${COMMENT_ALLOWED}`);
  // No quotes (ufw refuses '), shell metacharacters, '#' (status output's comment marker) or control characters.
  if (!/^[A-Za-z0-9 _.,:/@+=%-]+$/.test(text)) return fail(`comment ${JSON.stringify(text)} has characters that are not allowed; allowed: ${COMMENT_ALLOWED}`);
  if (text !== text.trim()) return fail("comment cannot start or end with a space (ufw status would not show it)");
  if (text.startsWith("-")) return fail("comment cannot start with '-'");
  // ufw looks for a bare "in"/"out" anywhere in the arguments before it strips the comment.
  if (["in", "out"].includes(text.toLowerCase())) return fail(`comment "${text}" is a ufw keyword and would be misparsed; add another word`);
});

// ------------------------------------------------------------------ rule

const RULE_FIELDS = ["action", "direction", "protocol", "port", "from", "to", "interface", "comment"] as const;

export const UfwRule = z
  .strictObject(
    {
      action: enumOf(UFW_ACTIONS, "action").describe(
        "What to do with matching traffic: allow; deny (drop silently); reject (refuse with an error); limit (allow, but refuse a source address that opened 6 or more connections in the last 30 seconds; incoming only).",
      ),
      direction: enumOf(UFW_DIRECTIONS, "direction")
        .default("in")
        .describe("Traffic direction the rule applies to: in (to this host) or out (from this host)."),
      protocol: enumOf(UFW_PROTOCOLS, "protocol")
        .default("any")
        .describe("Protocol: tcp, udp or any (both). A port list or range needs tcp or udp."),
      port: PortSpec.optional().describe(
        'Destination port: a number (22), a range "low:high" ("60000:60050") or a comma-separated list ("80,443"); at most 15 ports, a range counting as two. Leave out for all ports.',
      ),
      // prefault: the default goes through the transform, and zod's JSON Schema shows it (it hides a transformed field's default).
      from: addressSchema(true)
        .prefault("any")
        .describe('Source: "any", an IPv4/IPv6 address or a CIDR network with host bits clear (192.0.2.0/24, 2001:db8::/32).'),
      to: addressSchema(true)
        .prefault("any")
        .describe('Destination: "any", an IPv4/IPv6 address or a CIDR network with host bits clear. Must be the same IP family as from when both are given.'),
      interface: InterfaceName.optional().describe(
        "Network interface (e.g. vmbr0): the incoming interface for direction in, the outgoing one for direction out. Leave out for all interfaces.",
      ),
      comment: Comment.optional().describe(
        `Comment stored with the rule and shown by ufw status: ${COMMENT_ALLOWED}. Part of the rule, so changing it updates the rule.`,
      ),
    },
    { error: strictObjectError("a ufw rule", RULE_FIELDS) },
  )
  .superRefine((rule, ctx) => {
    if (rule.port !== undefined && isMultiPort(rule.port) && rule.protocol === "any") {
      ctx.addIssue({
        code: "custom",
        path: ["protocol"],
        message: `port ${rule.port} is a list or range, which ufw only accepts with protocol tcp or udp; set protocol to tcp or udp (or split into one rule per protocol)`,
      });
    }
    const fromFamily = rule.from === "any" ? undefined : rule.from.includes(":") ? "IPv6" : "IPv4";
    const toFamily = rule.to === "any" ? undefined : rule.to.includes(":") ? "IPv6" : "IPv4";
    if (fromFamily && toFamily && fromFamily !== toFamily) {
      ctx.addIssue({
        code: "custom",
        path: ["to"],
        message: `from is ${fromFamily} (${rule.from}) but to is ${toFamily} (${rule.to}); a rule can only match one IP family: make both the same family, or use "any" for one`,
      });
    }
    // ufw accepts "limit out", but the rate limit tracks source addresses, which for outgoing traffic is this host itself.
    if (rule.action === "limit" && rule.direction === "out") {
      ctx.addIssue({
        code: "custom",
        path: ["action"],
        message: "limit is only allowed with direction in (it rate-limits connecting source addresses); use allow or deny for outgoing rules",
      });
    }
  })
  .describe("One ufw rule. ufw has no in-place edit for a rule's match (direction, protocol, port, from, to, interface): changing one replaces the rule.");

export type UfwRule = z.output<typeof UfwRule>;
export type UfwRuleInput = z.input<typeof UfwRule>;

// ------------------------------------------------------------------ defaults, activation, guards

const DEFAULTS_FIELDS = ["incoming", "outgoing", "routed", "logging", "allowForwardDeny"] as const;

export const UfwDefaults = z
  .strictObject(
    {
      incoming: enumOf(UFW_POLICIES, "incoming").default("deny").describe("Default policy for traffic to this host that no rule matches."),
      outgoing: enumOf(UFW_POLICIES, "outgoing").default("allow").describe("Default policy for traffic from this host that no rule matches."),
      routed: enumOf(UFW_POLICIES, "routed")
        .optional()
        .describe(
          "Default policy for forwarded traffic (the FORWARD chain), which with bridge netfilter on (net.bridge.bridge-nf-call-iptables = 1, wherever br_netfilter is loaded) is every bridged VM's and container's traffic. Left out: allow where bridge netfilter is on or unreadable, so guests keep their network as before ufw, whose Debian package ships deny (DEFAULT_FORWARD_POLICY=\"DROP\"); where it is off, the host keeps its own policy (as 0.1.0 did: a stack it deployed does not change on upgrade). This program hardens the host's own ports, not guest traffic. deny/reject: see allowForwardDeny.",
        ),
      logging: enumOf(UFW_LOG_LEVELS, "logging")
        .optional()
        .describe('Log level: off, on, low, medium, high or full. Left out: not managed (ufw ships "low"). "on" means any level but off (ufw turns on at "low").'),
      allowForwardDeny: z
        .boolean({ error: "allowForwardDeny must be true or false" })
        .default(false)
        .describe(
          "Opt in to a routed policy of deny/reject while bridge netfilter (net.bridge.bridge-nf-call-iptables) is on or unknown. Without it the provider refuses, because that drops every bridged VM's new connections.",
        ),
    },
    { error: strictObjectError("ufw defaults", DEFAULTS_FIELDS) },
  )
  .describe("ufw default policies and logging; all updated in place.");

export type UfwDefaults = z.output<typeof UfwDefaults>;

export const UfwActivation = z
  .strictObject(
    {
      enabled: z
        .boolean({ error: "enabled must be true or false" })
        .default(true)
        .describe("Whether ufw is active and starts at boot (ufw --force enable / ufw disable)."),
    },
    { error: strictObjectError("ufw activation", ["enabled"]) },
  )
  .describe("Turns ufw on or off; updated in place.");

export type UfwActivation = z.output<typeof UfwActivation>;

export const UfwLockoutGuard = z
  .strictObject(
    {
      sshPort: PortNumber.default(22).describe("TCP port this program's SSH connection to the host uses; the rules must keep it reachable."),
      sshAddressFamily: enumOf(["v4", "v6"] as const, "sshAddressFamily")
        .optional()
        .describe("IP family of the address used to reach the host. Left out: both families must keep SSH reachable."),
    },
    { error: strictObjectError("the lockout guard", ["sshPort", "sshAddressFamily"]) },
  )
  .describe("How the program reaches the host, so changes that would cut it off are refused.");

export type UfwLockoutGuard = z.output<typeof UfwLockoutGuard>;

/** A cluster network for the Proxmox traffic preset: an address or network, never "any". */
export const ClusterNetwork = addressSchema(false).describe(
  "Network the Proxmox cluster nodes talk over (corosync, migration, consoles), e.g. 10.10.10.0/24.",
);
