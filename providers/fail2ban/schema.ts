// Inputs of the fail2ban resources. These schemas are the single source of truth for the
// TypeScript types, for validation at `pulumi preview` and for the generated config reference:
// every field is described, and defaults are the product's reference procedure.
//
// Everything here ends up in fail2ban's INI files, and one bad line stops fail2ban altogether
// (and `fail2ban-client -t` lets some bad lines through), so values are validated strictly and
// rendered only from these parsed structures.
import { isIP } from "node:net";
import { z } from "zod";
import { checkFail2banRegex, FAILURE_ID_GROUPS } from "./pyregex";

// ---------------------------------------------------------------------------------------------
// Values that become INI text

/**
 * Why a string cannot be written as one INI value as fail2ban's ConfigParser reads it, or null.
 * `%` is fine: the renderers escape it.
 */
export function iniValueProblem(value: string): string | null {
  // Control characters include newlines, which would inject lines into the file.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) return "must not contain newlines, tabs or other control characters";
  if (value !== value.trim()) return "must not start or end with whitespace (fail2ban's config parser strips it; use \\s or [ ] in a regex)";
  if (/^[#;]/.test(value)) return "must not start with '#' or ';' (fail2ban would read a comment; escape it as \\# or [;] in a regex)";
  if (/\s;/.test(value)) return "must not contain whitespace followed by ';' (fail2ban cuts the value there as an inline comment; write [;] or \\s*;)";
  return null;
}

const iniString = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .superRefine((value, ctx) => {
      const problem = iniValueProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: `${what} ${problem}` });
    });

// ---------------------------------------------------------------------------------------------
// Names

const RESERVED_SECTIONS = ["DEFAULT", "INCLUDES", "Definition", "Init"];

/** Filters Debian 12's fail2ban 1.0.2 ships in /etc/fail2ban/filter.d (and its one subdirectory). */
export const STOCK_FILTERS: readonly string[] = [
  "3proxy", "apache-auth", "apache-badbots", "apache-botsearch", "apache-common", "apache-fakegooglebot",
  "apache-modsecurity", "apache-nohome", "apache-noscript", "apache-overflows", "apache-pass", "apache-shellshock",
  "assp", "asterisk", "bitwarden", "botsearch-common", "centreon", "common", "counter-strike", "courier-auth",
  "courier-smtp", "cyrus-imap", "directadmin", "domino-smtp", "dovecot", "dropbear", "drupal-auth", "ejabberd-auth",
  "exim-common", "exim-spam", "exim", "freeswitch", "froxlor-auth", "gitlab", "grafana", "groupoffice", "gssftpd",
  "guacamole", "haproxy-http-auth", "horde", "ignorecommands", "kerio", "lighttpd-auth", "mongodb-auth", "monit",
  "monitorix", "mssql-auth", "murmur", "mysqld-auth", "nagios", "named-refused", "nginx-bad-request",
  "nginx-botsearch", "nginx-http-auth", "nginx-limit-req", "nsd", "openhab", "openwebmail", "oracleims",
  "pam-generic", "perdition", "php-url-fopen", "phpmyadmin-syslog", "portsentry", "postfix", "proftpd", "pure-ftpd",
  "qmail", "recidive", "roundcube-auth", "scanlogd", "screensharingd", "selinux-common", "selinux-ssh",
  "sendmail-auth", "sendmail-reject", "sieve", "slapd", "softethervpn", "sogo-auth", "solid-pop3d", "squid",
  "squirrelmail", "sshd", "stunnel", "suhosin", "tine20", "traefik-auth", "uwimap-auth", "vsftpd", "webmin-auth",
  "wuftpd", "xinetd-fail", "znc-adminlog", "zoneminder",
];

// No dots or slashes (the name becomes a file name: no traversal, no extension games), no
// brackets (it becomes an INI section name), nothing a shell would interpret.
const nameSchema = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(
      new RegExp(`^[A-Za-z0-9][A-Za-z0-9_-]{0,${max - 1}}$`),
      `${what} must be 1-${max} characters: letters, digits, '_' and '-', starting with a letter or digit`,
    )
    .refine((name) => !RESERVED_SECTIONS.some((r) => r.toLowerCase() === name.toLowerCase()), {
      message: `${what} must not be one of fail2ban's reserved section names (${RESERVED_SECTIONS.join(", ")})`,
    });

/** Name of any filter a jail may use: a stock one (sshd) or one defined with Fail2banFilter. */
export const FilterRefName = nameSchema("filter name", 48).describe(
  "Name of a filter in /etc/fail2ban/filter.d, without extension: a stock one such as sshd, or one managed by a Fail2banFilter resource.",
);

/** Name of a filter this project writes; stock names are refused so a stock .conf is never overwritten. */
export const FilterName = FilterRefName.refine((name) => !STOCK_FILTERS.includes(name), {
  message: "filter name must not be the name of a filter fail2ban ships (its .conf belongs to the package); pick another name, e.g. add a suffix",
}).describe("Name of the managed filter; it is written to /etc/fail2ban/filter.d/<name>.conf. Must not be a stock filter name.");

/** iptables refuses chain names longer than 28 characters and fail2ban's chains are f2b-<jail>. */
export const JAIL_NAME_MAX = 24;

export const JailName = nameSchema("jail name", JAIL_NAME_MAX).describe(
  `Jail name, the INI section [name] (1-${JAIL_NAME_MAX} characters: fail2ban's iptables chain f2b-<name> must stay under 29 characters). Using a stock jail name (sshd) overrides that jail.`,
);

// ---------------------------------------------------------------------------------------------
// Durations

const UNIT_SECONDS = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as const;
/** Upper bound for every duration: longer bans should use the explicit "permanent" keyword. */
export const MAX_DURATION_SECONDS = 366 * 86400;
const DURATION_FORMAT =
  'whole seconds (3600 or "3600") or fail2ban time abbreviations in the order w, d, h, m, s, each at most once (e.g. "10m", "1h30m", "1d 12h", "1w")';

/** Parses a duration as written in our inputs; returns seconds or an error message. */
export function parseDuration(value: unknown): number | string {
  let seconds: number;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return `must be ${DURATION_FORMAT}`;
    seconds = value;
  } else if (typeof value === "string") {
    const match = /^(?:(\d{1,6})w ?)?(?:(\d{1,6})d ?)?(?:(\d{1,8})h ?)?(?:(\d{1,9})m ?)?(?:(\d{1,10})s)?$/.exec(value);
    if (/^\d{1,10}$/.test(value)) seconds = Number(value);
    else if (match && value !== "" && !value.endsWith(" ")) {
      const [, w, d, h, m, s] = match;
      seconds = [w, d, h, m, s].reduce((sum, part, i) => sum + Number(part ?? 0) * Object.values(UNIT_SECONDS)[i]!, 0);
    } else return `must be ${DURATION_FORMAT}`;
  } else return `must be ${DURATION_FORMAT}`;
  if (seconds < 1) return "must be at least 1 second";
  if (seconds > MAX_DURATION_SECONDS) return `must be at most 366 days (${MAX_DURATION_SECONDS} seconds)`;
  return seconds;
}

const durationSchema = (what: string) =>
  z.union([z.number(), z.string()], { error: `${what} must be ${DURATION_FORMAT}` }).transform((value, ctx) => {
    const parsed = parseDuration(value);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: `${what} ${parsed}` });
      return z.NEVER;
    }
    return parsed;
  });

export const Duration = durationSchema("duration").describe(`A duration: ${DURATION_FORMAT}. Normalized to seconds.`);

/** fail2ban's bantime -1 bans forever; we accept it only as the explicit keyword. */
export const PERMANENT_BAN = -1;

const banTimeSchema = z
  .union([z.number(), z.string()], { error: `bantime must be ${DURATION_FORMAT}, or "permanent"` })
  .transform((value, ctx) => {
    if (value === "permanent") return PERMANENT_BAN;
    if (value === -1 || value === "-1") {
      ctx.addIssue({ code: "custom", message: 'bantime -1 bans forever; write "permanent" to say so explicitly' });
      return z.NEVER;
    }
    const parsed = parseDuration(value);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: `bantime ${parsed}, or "permanent"` });
      return z.NEVER;
    }
    return parsed;
  });

const BANTIME_DESCRIPTION = `How long an address stays banned: ${DURATION_FORMAT}, or "permanent" (fail2ban's -1: never unbanned, kept across restarts in fail2ban's database). Normalized to seconds (-1 for permanent).`;
const FINDTIME_DESCRIPTION = `Window in which maxretry failures lead to a ban: ${DURATION_FORMAT}. Normalized to seconds.`;
const MAXRETRY_DESCRIPTION = "Number of failures within findtime that leads to a ban (integer, 1-1000).";

const maxRetrySchema = z
  .number({ error: "maxretry must be an integer from 1 to 1000" })
  .int("maxretry must be an integer from 1 to 1000")
  .min(1, "maxretry must be at least 1")
  .max(1000, "maxretry must be at most 1000");

// ---------------------------------------------------------------------------------------------
// Regexes, journal matches, date patterns

const REGEX_MAX = 1000;

const regexSchema = (what: string) =>
  iniString(what, REGEX_MAX).superRefine((value, ctx) => {
    if (iniValueProblem(value)) return;
    const check = checkFail2banRegex(value);
    if (!check.ok) ctx.addIssue({ code: "custom", message: `${what} does not compile as fail2ban 1.0.2 would compile it (Python re): ${check.error}` });
  });

/** Host-id groups present in a regex after fail2ban's tag expansion; [] if it does not compile. */
export function failureIdGroups(regex: string): string[] {
  const check = checkFail2banRegex(regex);
  return check.ok ? check.groups.filter((g) => (FAILURE_ID_GROUPS as readonly string[]).includes(g)) : [];
}

const JOURNAL_FIELD = /^[A-Z_][A-Z0-9_]{0,63}$/;
const JOURNAL_VALUE = /^[A-Za-z0-9._@:/+=-]{1,200}$/;

/** Problems of a journalmatch in fail2ban's syntax (FIELD=value terms, "+" between alternatives). */
export function journalmatchProblems(value: string): string[] {
  const terms = value.split(" ");
  if (terms.some((t) => t === "")) return ["terms must be separated by single spaces"];
  const problems: string[] = [];
  terms.forEach((term, i) => {
    if (term === "+") {
      if (i === 0 || i === terms.length - 1 || terms[i - 1] === "+") problems.push(`"+" must stand between two terms (at term ${i + 1})`);
      return;
    }
    const eq = term.indexOf("=");
    const field = term.slice(0, eq);
    const fieldValue = term.slice(eq + 1);
    if (eq < 1 || !JOURNAL_FIELD.test(field) || field.startsWith("__")) {
      problems.push(`term "${term}" must be FIELD=value with FIELD in upper case letters, digits and '_' (e.g. _SYSTEMD_UNIT=ssh.service, SYSLOG_IDENTIFIER=sshd)`);
    } else if (!JOURNAL_VALUE.test(fieldValue)) {
      problems.push(`value of ${field} must be 1-200 characters of letters, digits and . _ @ : / + = -`);
    }
  });
  if (terms.length > 32) problems.push("at most 32 terms");
  return problems;
}

export const Journalmatch = z
  .string({ error: "journalmatch must be a string" })
  .superRefine((value, ctx) => {
    for (const problem of journalmatchProblems(value)) ctx.addIssue({ code: "custom", message: `journalmatch: ${problem}` });
  })
  .describe(
    'systemd journal match in fail2ban\'s syntax: FIELD=value terms; terms side by side must all match, "+" separates alternatives. Example: "_SYSTEMD_UNIT=ssh.service + _COMM=sshd". Used only with the systemd backend.',
  );

// fail2ban's datepattern: strptime directives (fail2ban's own %Ex... included) inside a regex,
// or one of its keywords (server/datedetector.py, server/strptime.py).
const DATE_DIRECTIVES = /%(?:Ex[dmHklMSYyZz]|[aAbBdfHIjklmMpSUwWyYzZ%])/g;
const DATE_KEYWORDS = ["EPOCH", "LEPOCH", "TAI64N", "ISO8601", "{DEFAULT}", "{NONE}", "{^LN-BEG}"];

export function datepatternProblem(value: string): string | null {
  const rest = value.replace(/^\{\^LN-BEG\}/, "");
  if (DATE_KEYWORDS.includes(value.toUpperCase()) || DATE_KEYWORDS.includes(rest.toUpperCase())) return null;
  const stray = rest.replace(DATE_DIRECTIVES, "").match(/%./);
  if (stray) return `unknown date directive ${stray[0]}; allowed are %Y %m %d %H %M %S %f %z %Z %b %a ... and fail2ban's %Ex forms`;
  const seen = new Set<string>();
  for (const [directive] of rest.matchAll(DATE_DIRECTIVES)) {
    if (directive !== "%%" && seen.has(directive)) return `date directive ${directive} must appear only once`;
    seen.add(directive);
  }
  const asRegex = rest.replace(DATE_DIRECTIVES, (d) => (d === "%%" ? "%" : "(?:.+?)")).replace(/\{(?:DATE|UNB)\}/g, "");
  const check = checkFail2banRegex(asRegex);
  return check.ok ? null : `does not compile: ${check.error}`;
}

// ---------------------------------------------------------------------------------------------
// Network values

const SERVICE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Problem of one port item as fail2ban's actions take it: 22, "ssh", "60000:60050". */
export function portItemProblem(item: string): string | null {
  if (SERVICE_NAME.test(item)) return null;
  // No leading zeros: iptables reads 022 as octal 18, and 08 not at all (ufw's own ports refuse them too).
  const number = "(0|[1-9]\\d{0,4})";
  const range = new RegExp(`^${number}:${number}$`).exec(item);
  if (range) {
    const [lo, hi] = [Number(range[1]), Number(range[2])];
    return hi <= 65535 && lo < hi ? null : `range ${item} must be low:high with 0 <= low < high <= 65535, without leading zeros`;
  }
  if (new RegExp(`^${number}$`).test(item) && Number(item) >= 1 && Number(item) <= 65535) return null;
  return `"${item}" must be a port 1-65535 (without leading zeros), a range low:high or a service name from /etc/services (lower case, e.g. ssh, https)`;
}

/** iptables' multiport match takes at most 15 ports; a range counts as two. */
export const MULTIPORT_MAX = 15;

export const Ports = z
  .union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))], {
    error: 'port must be a port number, a string like "ssh", "80,443" or "60000:60050", or a list of them',
  })
  .transform((value, ctx) => {
    const items = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
    for (const item of items) {
      const problem = portItemProblem(item);
      if (problem) ctx.addIssue({ code: "custom", message: `port ${problem}` });
    }
    const weight = items.reduce((sum, item) => sum + (item.includes(":") ? 2 : 1), 0);
    if (weight > MULTIPORT_MAX) ctx.addIssue({ code: "custom", message: `port lists at most ${MULTIPORT_MAX} ports (a range counts as 2): iptables' multiport match refuses more` });
    if (new Set(items).size !== items.length) ctx.addIssue({ code: "custom", message: "port lists a port twice" });
    return items;
  })
  .describe('Ports the ban blocks: a port, a service name from /etc/services, a range low:high, comma-separated ("80,443") or as a list. At most 15 ports, a range counting 2.');

/** Problem of one ignoreip entry (an address or a CIDR block), or null. */
export function ipOrCidrProblem(entry: string): string | null {
  const [address = "", prefix, extra] = entry.split("/");
  const family = /^[0-9a-fA-F:.]+$/.test(address) ? isIP(address) : 0;
  if (family === 0 || extra !== undefined) return `"${entry}" must be an IPv4 or IPv6 address, optionally with /prefix (host names are not accepted)`;
  if (prefix === undefined) return null;
  const max = family === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= max ? null : `prefix of "${entry}" must be 0-${max}`;
}

export const IgnoreIp = z
  .array(
    z.string({ error: "ignoreip entries must be strings" }).superRefine((entry, ctx) => {
      const problem = ipOrCidrProblem(entry);
      if (problem) ctx.addIssue({ code: "custom", message: `ignoreip ${problem}` });
    }),
    { error: 'ignoreip must be a list of addresses or CIDR blocks, e.g. ["127.0.0.1/8", "::1", "203.0.113.0/24"]' },
  )
  .max(64, "ignoreip lists at most 64 entries")
  .describe("Addresses and CIDR blocks never banned (IPv4 or IPv6). Put the administrators' addresses here so they cannot lock themselves out.");

/** Ban actions Debian's fail2ban ships that take port/protocol the way jail.conf's action_ passes them. */
export const BAN_ACTIONS = [
  "iptables-multiport",
  "iptables-allports",
  "iptables",
  "iptables-new",
  "iptables-ipset",
  "iptables-ipset-proto6",
  "iptables-ipset-proto6-allports",
  "nftables-multiport",
  "nftables-allports",
  "nftables",
  "ufw",
  "route",
  "hostsdeny",
] as const;

const banActionSchema = (what: string) =>
  z.enum(BAN_ACTIONS, { error: `${what} must be one of ${BAN_ACTIONS.join(", ")}` });

const ALLPORTS_ACTIONS: readonly string[] = BAN_ACTIONS.filter((a) => a.endsWith("-allports") || a === "route" || a === "hostsdeny");

export const BACKENDS = ["auto", "pyinotify", "polling", "systemd"] as const;
export const Backend = z
  .enum(BACKENDS, { error: `backend must be one of ${BACKENDS.join(", ")}` })
  .describe(
    "How fail2ban reads the logs: auto (let the provider choose: the log files if they exist, else the systemd journal, as on Proxmox VE 8+ which logs to journald only), pyinotify or polling (log files), systemd (journal).",
  );

// Absolute paths only; segments of plain characters and the glob wildcards * and ?; no ".." or
// "." segments, no spaces (fail2ban splits a logpath line at a space for its head/tail option).
// Nothing a shell treats specially but the globs: the provider expands them unquoted on the host.
const LOGPATH = /^(?:\/[A-Za-z0-9_*?.-]+)+$/;

export const Logpath = z
  .array(
    z
      .string({ error: "logpath entries must be strings" })
      .max(255, "logpath entries must be at most 255 characters")
      .refine((p) => LOGPATH.test(p) && !p.split("/").some((s) => s === "." || s === ".."), {
        message: "logpath entries must be absolute paths (e.g. /var/log/auth.log) of letters, digits and _ . -, with * and ? as globs; no spaces, no '.' or '..' segments",
      }),
    { error: "logpath must be a list of absolute paths" },
  )
  .min(1, "logpath must list at least one path")
  .max(16, "logpath lists at most 16 paths")
  .describe("Log files the jail reads with a file backend (globs * and ? allowed). Ignored by fail2ban with the systemd backend.");

const emailSchema = (what: string) =>
  z.email({ error: `${what} must be an e-mail address` }).max(254).refine((v) => !iniValueProblem(v) && !v.includes("%"), { message: `${what} must be a plain e-mail address` });

// ---------------------------------------------------------------------------------------------
// Options shared by [DEFAULT] and jails

const increment = z
  .strictObject(
    {
      factor: z.number({ error: "bantime increment factor must be a number" }).positive("bantime increment factor must be positive").max(1000, "bantime increment factor must be at most 1000").optional().describe("bantime.factor: multiplier of the growth (fail2ban default 1)."),
      maxtime: Duration.optional().describe("bantime.maxtime: the longest ban the increment reaches. Normalized to seconds."),
      rndtime: Duration.optional().describe("bantime.rndtime: random seconds added to each ban, against bots that retry right after the unban."),
      multipliers: z
        .array(z.number().int().min(1).max(1_000_000), { error: "bantime multipliers must be a list of integers from 1 to 1000000" })
        .min(1, "bantime multipliers must list at least one multiplier")
        .max(32, "bantime multipliers lists at most 32 multipliers")
        .optional()
        .describe("bantime.multipliers: ban time multipliers for the 1st, 2nd... repeated ban, e.g. [1, 2, 4, 8, 16, 32, 64]; replaces the formula."),
      overalljails: z.boolean().optional().describe("bantime.overalljails: count an address's earlier bans in all jails, not only this one."),
    },
    { error: "bantimeIncrement accepts factor, maxtime, rndtime, multipliers, overalljails" },
  )
  .describe("Set to make repeated offenders' bans longer each time (fail2ban's bantime.increment = true with these settings).");

const USEDNS = ["yes", "warn", "no", "raw"] as const;

const commonOptions = {
  banaction: banActionSchema("banaction").optional().describe(`Action that bans on the jail's ports (fail2ban default iptables-multiport): ${BAN_ACTIONS.join(", ")}.`),
  banaction_allports: banActionSchema("banaction_allports").optional().describe("Action used where a jail bans on all ports (fail2ban default iptables-allports); same choices as banaction."),
  usedns: z.enum(USEDNS, { error: `usedns must be one of ${USEDNS.join(", ")}` }).optional().describe("Whether <HOST> may match host names and fail2ban resolves them: yes, warn (fail2ban default), no (addresses only, recommended), raw."),
  chain: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,28}$/, "chain must be an iptables chain name: 1-28 letters, digits, '_' or '-'")
    .optional()
    .describe("iptables/nftables chain the ban rules hook into (fail2ban default INPUT)."),
  bantimeIncrement: increment.optional(),
};

// ---------------------------------------------------------------------------------------------
// [DEFAULT]

export const REFERENCE_DEFAULTS = {
  bantime: 3600,
  findtime: 300,
  maxretry: 3,
  ignoreip: ["127.0.0.1/8", "::1"],
  backend: "auto",
} as const;

export const Fail2banDefaults = z
  .strictObject(
    {
      // prefault: the default goes through the transform and shows in the generated reference.
      bantime: banTimeSchema.prefault(REFERENCE_DEFAULTS.bantime).describe(BANTIME_DESCRIPTION),
      findtime: durationSchema("findtime").prefault(REFERENCE_DEFAULTS.findtime).describe(FINDTIME_DESCRIPTION),
      maxretry: maxRetrySchema.default(REFERENCE_DEFAULTS.maxretry).describe(MAXRETRY_DESCRIPTION),
      ignoreip: IgnoreIp.default([...REFERENCE_DEFAULTS.ignoreip]),
      backend: Backend.default(REFERENCE_DEFAULTS.backend),
      ...commonOptions,
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `unknown fail2ban default option(s): ${issue.keys.join(", ")}` : "fail2ban defaults must be an object") },
  )
  .describe("fail2ban's [DEFAULT] section: settings every jail inherits unless it sets its own.");

export type Fail2banDefaults = z.output<typeof Fail2banDefaults>;

// ---------------------------------------------------------------------------------------------
// Jails

export const FILTER_MODES = ["normal", "ddos", "extra", "aggressive"] as const;

export const FilterRef = z
  .strictObject(
    {
      name: FilterRefName,
      mode: z.enum(FILTER_MODES, { error: `filter mode must be one of ${FILTER_MODES.join(", ")}` }).optional().describe("The filter's mode option (sshd and a few others): normal, ddos, extra or aggressive."),
      _daemon: iniString("filter _daemon", 200)
        .refine((v) => !/["'%]/.test(v), { message: "filter _daemon must not contain quotes or '%'" })
        .superRefine((v, ctx) => {
          const check = checkFail2banRegex(v);
          if (!check.ok) ctx.addIssue({ code: "custom", message: `filter _daemon does not compile as a regex: ${check.error}` });
        })
        .optional()
        .describe('The _daemon option of filters built on common.conf: a regex for the program name in the syslog prefix, e.g. "sshd(?:-session)?" to also match Debian 13\'s sshd-session.'),
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `filter accepts only name, mode and _daemon, not ${issue.keys.join(", ")}` : "filter must be an object like { name: \"sshd\" }") },
  )
  .describe("The filter the jail uses, with optional filter options. Defaults to the filter named like the jail.");

export type FilterRef = z.output<typeof FilterRef>;

export const JAIL_ACTIONS = ["action_", "action_mw", "action_mwl"] as const;

export const Fail2banJail = z
  .strictObject(
    {
      name: JailName,
      enabled: z.boolean({ error: "enabled must be true or false" }).default(true).describe("Whether fail2ban runs the jail."),
      port: Ports.optional(),
      protocol: z.enum(["tcp", "udp", "all"], { error: "protocol must be tcp, udp or all" }).optional().describe("Protocol the ban blocks: tcp (fail2ban default), udp, or all (only with an allports banaction)."),
      filter: FilterRef.optional(),
      logpath: Logpath.optional(),
      backend: Backend.default("auto"),
      journalmatch: Journalmatch.optional().describe("Journal match for the systemd backend, replacing the filter's own journalmatch (fail2ban syntax, see Journalmatch)."),
      bantime: banTimeSchema.optional().describe(BANTIME_DESCRIPTION),
      findtime: durationSchema("findtime").optional().describe(FINDTIME_DESCRIPTION),
      maxretry: maxRetrySchema.optional().describe(MAXRETRY_DESCRIPTION),
      ignoreip: IgnoreIp.optional(),
      action: z
        .enum(JAIL_ACTIONS, { error: `action must be one of ${JAIL_ACTIONS.join(", ")}` })
        .optional()
        .describe("jail.conf's action shortcut: action_ (ban only, fail2ban default), action_mw (ban and mail a whois report), action_mwl (also the log lines). Mail needs a working sendmail and destemail."),
      destemail: emailSchema("destemail").optional().describe("Recipient of action_mw/action_mwl mails."),
      sender: emailSchema("sender").optional().describe("Sender address of action_mw/action_mwl mails."),
      ...commonOptions,
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `unknown jail option(s): ${issue.keys.join(", ")}` : "jail must be an object") },
  )
  .superRefine((jail, ctx) => {
    if (jail.backend === "systemd" && jail.logpath) {
      ctx.addIssue({ code: "custom", path: ["logpath"], message: "logpath is not read with backend systemd; remove it, or use backend auto to let the provider choose" });
    }
    if ((jail.backend === "pyinotify" || jail.backend === "polling") && !jail.logpath) {
      ctx.addIssue({ code: "custom", path: ["logpath"], message: `backend ${jail.backend} reads log files: set logpath` });
    }
    if (jail.protocol === "all" && !(jail.banaction && ALLPORTS_ACTIONS.includes(jail.banaction))) {
      ctx.addIssue({ code: "custom", path: ["protocol"], message: `protocol all needs an allports banaction in the same jail (${ALLPORTS_ACTIONS.join(", ")}): the multiport actions accept only tcp or udp` });
    }
    if ((jail.action === "action_mw" || jail.action === "action_mwl") && !jail.destemail) {
      ctx.addIssue({ code: "custom", path: ["destemail"], message: `action ${jail.action} mails a report: set destemail` });
    }
  })
  .transform((jail) => ({ ...jail, filter: jail.filter ?? { name: jail.name } }))
  .describe("One fail2ban jail, written to /etc/fail2ban/jail.d/proxmox-hardening-jail-<name>.local.");

export type Fail2banJail = z.output<typeof Fail2banJail>;

// ---------------------------------------------------------------------------------------------
// Filters

const SAMPLE_MAX = 4096;

const sampleLine = z
  .string({ error: "sample lines must be strings" })
  .min(1, "sample lines must not be empty")
  .max(SAMPLE_MAX, `sample lines must be at most ${SAMPLE_MAX} characters`)
  .superRefine((line, ctx) => {
    if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(line)) ctx.addIssue({ code: "custom", message: "a sample is one log line: no newlines or other control characters" });
    else if (line !== line.trim()) ctx.addIssue({ code: "custom", message: "sample lines must not start or end with whitespace (fail2ban-regex strips it)" });
    else if (line.startsWith("#")) ctx.addIssue({ code: "custom", message: "sample lines must not start with '#' (fail2ban-regex skips such lines as comments)" });
  });

export const FilterSamples = z
  .strictObject(
    {
      match: z.array(sampleLine, { error: "samples.match must be a list of log lines" }).min(1, "samples.match needs at least one log line the filter must match").max(100, "samples.match lists at most 100 lines").describe("Log lines, as the log source writes them (with their timestamp), that the filter must count as failures."),
      noMatch: z.array(sampleLine, { error: "samples.noMatch must be a list of log lines" }).max(100, "samples.noMatch lists at most 100 lines").default([]).describe("Log lines the filter must not count as failures (successful logins, other daemons...)."),
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `samples accepts only match and noMatch, not ${issue.keys.join(", ")}` : "samples must be { match: [...], noMatch: [...] }") },
  )
  .superRefine((samples, ctx) => {
    // Object checks also run when a field failed; that field's own issue is already reported.
    if (!Array.isArray(samples.match) || !Array.isArray(samples.noMatch)) return;
    samples.noMatch.forEach((line, i) => {
      if (samples.match.includes(line)) ctx.addIssue({ code: "custom", path: ["noMatch", i], message: "a sample line cannot be in both match and noMatch" });
    });
  })
  .describe("Sample log lines checked with fail2ban-regex on the host before the filter is installed.");

export type FilterSamples = z.output<typeof FilterSamples>;

export const Fail2banFilter = z
  .strictObject(
    {
      name: FilterName,
      failregex: z
        .union([regexSchema("failregex"), z.array(regexSchema("failregex")).min(1, "failregex needs at least one regex").max(64, "failregex lists at most 64 regexes")], {
          error: "failregex must be a regex or a list of regexes",
        })
        .transform((v) => (Array.isArray(v) ? v : [v]))
        .describe(
          "Regexes (Python syntax with fail2ban's tags) of a failure line. Each must capture the offender with <HOST>, <ADDR>, <IP4>, <IP6>, <SUBNET>, <F-ID>...</F-ID> or similar (unless prefregex does), must compile, and is anchored best with ^ and $.",
        ),
      ignoreregex: z.array(regexSchema("ignoreregex"), { error: "ignoreregex must be a list of regexes" }).max(64, "ignoreregex lists at most 64 regexes").default([]).describe("Regexes of lines never counted as failures, even if a failregex matches."),
      prefregex: regexSchema("prefregex").optional().describe("Regex every line must match first; failregex is then applied to its <F-CONTENT>...</F-CONTENT> part."),
      datepattern: iniString("datepattern", 200)
        .superRefine((value, ctx) => {
          if (iniValueProblem(value)) return;
          const problem = datepatternProblem(value);
          if (problem) ctx.addIssue({ code: "custom", message: `datepattern ${problem}` });
        })
        .optional()
        .describe("Where and how the timestamp is written, in fail2ban's datepattern syntax (e.g. {^LN-BEG}, %Y-%m-%d %H:%M:%S). Default: fail2ban's detection of common formats."),
      journalmatch: Journalmatch.optional(),
      samples: FilterSamples,
    },
    { error: (issue) => (issue.code === "unrecognized_keys" ? `unknown filter option(s): ${issue.keys.join(", ")}` : "filter must be an object") },
  )
  .superRefine((filter, ctx) => {
    // Object checks also run when a field failed; that field's own issue is already reported.
    if (!Array.isArray(filter.failregex)) return;
    if (filter.prefregex && failureIdGroups(filter.prefregex).length > 0) return;
    filter.failregex.forEach((regex, i) => {
      if (checkFail2banRegex(regex).ok && failureIdGroups(regex).length === 0) {
        ctx.addIssue({
          code: "custom",
          path: ["failregex", i],
          message: "failregex must capture the offender: use <HOST>, <ADDR>, <IP4>, <IP6>, <SUBNET>, <F-ID>...</F-ID> or <F-IP4>/<F-IP6>/<F-DNS> (or put one in prefregex)",
        });
      }
    });
  })
  .describe("A fail2ban filter, written to /etc/fail2ban/filter.d/<name>.conf after its samples passed fail2ban-regex on the host.");

export type Fail2banFilter = z.output<typeof Fail2banFilter>;

// ---------------------------------------------------------------------------------------------
// The reference procedure

/**
 * Proxmox web-UI login failures. Anchored on pvedaemon's own prefix so that text an attacker
 * controls (the user name is logged) cannot put a second "rhost=" where the regex takes it.
 *
 * journalmatch SYSLOG_IDENTIFIER=pvedaemon rather than _SYSTEMD_UNIT=pvedaemon.service: on
 * Proxmox VE both hold (pvedaemon and its workers log with ident "pvedaemon" from the unit),
 * and hosts where the lines come from elsewhere (containers without systemd as pid 1, the
 * sandbox, rsyslog relays) still match. The identifier can be forged by local users (logger
 * -t pvedaemon) where the unit cannot, but the file backend trusts the same text, and a local
 * user on a hypervisor can do worse than ban an address.
 */
export const proxmoxFilterDefaults: Fail2banFilter = Fail2banFilter.parse({
  name: "proxmox",
  failregex: [String.raw`^\s*(?:\S+\s+)?pvedaemon\[\d+\]:\s+authentication failure; rhost=<HOST> user=\S+ msg=.*$`],
  journalmatch: "SYSLOG_IDENTIFIER=pvedaemon",
  samples: {
    match: [
      "Nov 25 13:40:01 pve1 pvedaemon[1562]: authentication failure; rhost=192.0.2.10 user=root@pam msg=Authentication failure",
      "Nov 25 13:40:04 pve1 pvedaemon[1562]: authentication failure; rhost=::ffff:192.0.2.11 user=root@pam msg=Authentication failure",
      "Nov 25 13:40:09 pve1 pvedaemon[23871]: authentication failure; rhost=2001:db8::5 user=admin@pve msg=no such user ('admin@pve')",
      "2026-11-25T13:41:15.118244+00:00 pve1 pvedaemon[1562]: authentication failure; rhost=::ffff:198.51.100.20 user=root@pam msg=Authentication failure",
    ],
    noMatch: [
      "Nov 25 13:42:01 pve1 pvedaemon[1562]: <root@pam> successful auth for user 'root@pam'",
      "Nov 25 13:42:05 pve1 pveproxy[2211]: proxy detected vanished client connection",
      "2026-11-25T13:42:11.004211+00:00 pve1 pmxcfs[1101]: [status] notice: received log",
    ],
  },
});

/** Journal match for sshd on Debian 12 (sshd, unit ssh.service) and 13 (per-connection sshd-session). */
export const SSHD_JOURNALMATCH = "_SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service + _COMM=sshd + _COMM=sshd-session";

/** The stock sshd filter, told that Debian 13's per-connection process logs as sshd-session. */
export const referenceSshdJail: Fail2banJail = Fail2banJail.parse({
  name: "sshd",
  port: "ssh",
  filter: { name: "sshd", _daemon: "sshd(?:-session)?" },
  logpath: ["/var/log/auth.log"],
  journalmatch: SSHD_JOURNALMATCH,
});

/**
 * pvedaemon logs with facility daemon: rsyslog writes that to /var/log/syslog on Debian 12 and
 * on hosts upgraded from 11 (whose rsyslog.conf may also still write daemon.log: listing both
 * would count every failure twice). Without rsyslog (Proxmox VE 8+) the journal is used.
 */
export const referenceProxmoxJail: Fail2banJail = Fail2banJail.parse({
  name: "proxmox",
  port: "8006",
  protocol: "tcp",
  filter: { name: proxmoxFilterDefaults.name },
  logpath: ["/var/log/syslog"],
});

export const referenceDefaults: Fail2banDefaults = Fail2banDefaults.parse({});
