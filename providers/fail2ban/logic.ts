// The pure core of the fail2ban resources: file names, file contents, backend choice, the
// sample check and diff metadata. No I/O: the providers run the commands and pass results in.
//
// Files. Every resource owns exactly one file:
//   Fail2banFilter   -> /etc/fail2ban/filter.d/<name>.conf
//   Fail2banJail     -> /etc/fail2ban/jail.d/proxmox-hardening-jail-<name>.local
//   Fail2banDefaults -> /etc/fail2ban/jail.d/proxmox-hardening-defaults.local
// One file per resource makes each write atomic (write a temporary file, rename), lets delete
// restore exactly what was there before, keeps parallel resources from racing on a shared
// file, and leaves the user's own jail.local alone.
//
// fail2ban reads jail.conf, jail.d/*.conf, jail.local, then jail.d/*.local (each group in
// alphabetical order); for the same key in the same section the last file read wins. So:
// - our jail.d/*.local files override jail.conf, Debian's jail.d/defaults-debian.conf (which
//   enables [sshd]) and the user's jail.local, key by key: keys we do not write still come from
//   those files (e.g. jail.conf's [sshd] port/logpath when a jail leaves them unset);
// - a user's jail.d/*.local sorted after "proxmox-hardening-..." (e.g. jail.d/sshd.local)
//   overrides us for the keys it sets;
// - [DEFAULT] keys we write apply to every jail, stock ones included, unless a jail sets them.
//
// Filters are .conf files that we own entirely (every key they need is in the file, nothing is
// inherited), rather than .local overrides of a stock filter: that is why stock filter names
// are refused (their .conf belongs to the package); stock filters are tuned through the jail's
// filter options instead (filter = sshd[_daemon=...]). A filter.d/<name>.local the user writes
// still overrides our keys, as fail2ban intends. Where a package ships filter.d/<name>.conf itself
// (upstream fail2ban added a proxmox.conf after 1.1.0), that file is the package's conffile and
// stays as the package left it: ours goes to filter.d/<name>.local, which fail2ban reads after it
// and which overrides it key by key (every key ours sets; see filterTarget).
import { createHash } from "node:crypto";
import { shellQuote } from "../ssh/quote";
import { Fail2banDefaults, Fail2banFilter, Fail2banJail, FilterRef, FilterSamples, PERMANENT_BAN } from "./schema";

export const FAIL2BAN_CONFIG_DIR = "/etc/fail2ban";
export const MANAGED_HEADER = "# managed by proxmox-hardening (pulumi); manual edits are reverted";

export function filterPath(name: string): string {
  return `${FAIL2BAN_CONFIG_DIR}/filter.d/${name}.conf`;
}

/** fail2ban's own override of a filter: read after <name>.conf, its keys win. */
export function filterLocalPath(name: string): string {
  return `${FAIL2BAN_CONFIG_DIR}/filter.d/${name}.local`;
}

/** Prints the package that ships `path` (dpkg's database: conffiles included), nothing when none does. */
export function owningPackageScript(path: string): string {
  return `dpkg-query -S ${shellQuote(path)} 2>/dev/null | sed -n '1s/: .*//p'`;
}

/**
 * Where a filter goes on a host: its .conf, unless a package ships that .conf (never overwritten,
 * as the package's upgrades and purge manage it); then the .local next to it. `owner` is
 * owningPackageScript's output.
 */
export function filterTarget(name: string, owner: string): { path: string; package?: string } {
  const pkg = owner.trim().split("\n")[0];
  return pkg ? { path: filterLocalPath(name), package: pkg } : { path: filterPath(name) };
}

/** Every jail.d file this program writes is named so: its jails and its [DEFAULT]. */
const OWN_JAIL_FILE_PREFIX = "proxmox-hardening-";

export function jailPath(name: string): string {
  return `${FAIL2BAN_CONFIG_DIR}/jail.d/${OWN_JAIL_FILE_PREFIX}jail-${name}.local`;
}

export const DEFAULTS_PATH = `${FAIL2BAN_CONFIG_DIR}/jail.d/${OWN_JAIL_FILE_PREFIX}defaults.local`;

/** A shell glob of the jail.d files this program writes, under fail2ban's configuration directory `dir`. */
export const ownJailFilesGlob = (dir = FAIL2BAN_CONFIG_DIR): string => `${shellQuote(`${dir}/jail.d`)}/${OWN_JAIL_FILE_PREFIX}*.local`;

/**
 * The reload's `configuration` input, whose change reloads fail2ban: a hash of the fail2ban
 * settings, known at preview. Its form, "<hash>;" and one empty field per file, is what every
 * stack since 0.1.0 stores (the fields were meant for the files' write times, which never reached
 * the program), so an unchanged config compares equal to it and upgrading reloads nothing.
 */
export function reloadTrigger(settings: unknown, files: number): string {
  return `${createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 16)};${",".repeat(Math.max(files - 1, 0))}`;
}

/** Whether an existing file was written by us (else the provider must not overwrite it blindly). */
export function isManagedFile(content: string): boolean {
  return content.startsWith(MANAGED_HEADER + "\n");
}

// ---------------------------------------------------------------------------------------------
// INI rendering

/** fail2ban interpolates %(name)s in every value: a literal % must be doubled. */
function escapeValue(value: string): string {
  return value.replaceAll("%", "%%");
}

/**
 * One option; several values use ConfigParser's continuation lines (indented), which fail2ban
 * reads as one value with a newline between the parts (one regex, path or match per line).
 * Values are validated by the schemas: no newlines, no leading/trailing whitespace.
 */
function option(key: string, values: readonly string[] | string | number | boolean): string {
  const list = Array.isArray(values) ? values : String(values) === "" ? [] : [String(values)];
  if (list.length === 0) return `${key} =`;
  const indent = " ".repeat(key.length + 3);
  return list.map((value, i) => (i === 0 ? `${key} = ${value}` : indent + value)).join("\n");
}

function file(comment: string, section: string, lines: (string | undefined)[]): string {
  return [MANAGED_HEADER, `# ${comment}`, "", `[${section}]`, ...lines.filter((l): l is string => l !== undefined), ""].join("\n");
}

function bantime(seconds: number): string {
  return seconds === PERMANENT_BAN ? "-1" : String(seconds);
}

export function renderFilter(filter: Fail2banFilter): string {
  return file(`fail2ban filter "${filter.name}"`, "Definition", [
    option("failregex", filter.failregex.map(escapeValue)),
    option("ignoreregex", filter.ignoreregex.map(escapeValue)),
    filter.prefregex === undefined ? undefined : option("prefregex", escapeValue(filter.prefregex)),
    filter.datepattern === undefined ? undefined : option("datepattern", escapeValue(filter.datepattern)),
    filter.journalmatch === undefined ? undefined : option("journalmatch", escapeValue(filter.journalmatch)),
  ]);
}

/** `filter = name[opt="value", ...]`, the syntax of fail2ban's extractOptions. */
export function renderFilterRef(ref: FilterRef): string {
  const options: string[] = [];
  if (ref.mode !== undefined) options.push(`mode="${ref.mode}"`);
  if (ref._daemon !== undefined) options.push(`_daemon="${escapeValue(ref._daemon)}"`);
  return options.length ? `${ref.name}[${options.join(", ")}]` : ref.name;
}

type CommonOptions = Pick<Fail2banJail, "banaction" | "banaction_allports" | "usedns" | "chain" | "bantimeIncrement">;

function commonLines(o: CommonOptions): (string | undefined)[] {
  const inc = o.bantimeIncrement;
  return [
    o.banaction === undefined ? undefined : option("banaction", o.banaction),
    o.banaction_allports === undefined ? undefined : option("banaction_allports", o.banaction_allports),
    o.usedns === undefined ? undefined : option("usedns", o.usedns),
    o.chain === undefined ? undefined : option("chain", o.chain),
    inc === undefined ? undefined : option("bantime.increment", "true"),
    inc?.factor === undefined ? undefined : option("bantime.factor", inc.factor),
    inc?.maxtime === undefined ? undefined : option("bantime.maxtime", inc.maxtime),
    inc?.rndtime === undefined ? undefined : option("bantime.rndtime", inc.rndtime),
    inc?.multipliers === undefined ? undefined : option("bantime.multipliers", inc.multipliers.join(" ")),
    inc?.overalljails === undefined ? undefined : option("bantime.overalljails", inc.overalljails),
  ];
}

/** A backend after chooseBackend: "auto", "pyinotify" and "polling" read logpath, "systemd" the journal. */
export type ResolvedBackend = Fail2banJail["backend"];

export function renderJail(jail: Fail2banJail, backend: ResolvedBackend): string {
  const journal = backend === "systemd";
  if (!journal && jail.logpath === undefined) {
    throw new Error(`jail ${jail.name}: backend ${backend} reads log files but the jail has no logpath (chooseBackend never resolves so)`);
  }
  return file(`fail2ban jail "${jail.name}"`, jail.name, [
    option("enabled", jail.enabled),
    option("filter", renderFilterRef(jail.filter)),
    jail.port === undefined ? undefined : option("port", jail.port.join(",")),
    jail.protocol === undefined ? undefined : option("protocol", jail.protocol),
    option("backend", backend),
    journal && jail.journalmatch !== undefined ? option("journalmatch", escapeValue(jail.journalmatch)) : undefined,
    journal ? undefined : option("logpath", jail.logpath ?? []),
    jail.bantime === undefined ? undefined : option("bantime", bantime(jail.bantime)),
    jail.findtime === undefined ? undefined : option("findtime", jail.findtime),
    jail.maxretry === undefined ? undefined : option("maxretry", jail.maxretry),
    jail.ignoreip === undefined ? undefined : option("ignoreip", jail.ignoreip.join(" ")),
    ...commonLines(jail),
    jail.action === undefined ? undefined : option("action", `%(${jail.action})s`),
    jail.destemail === undefined ? undefined : option("destemail", jail.destemail),
    jail.sender === undefined ? undefined : option("sender", jail.sender),
  ]);
}


export function renderDefaults(defaults: Fail2banDefaults, backend: ResolvedBackend): string {
  return file("fail2ban defaults for every jail", "DEFAULT", [
    option("bantime", bantime(defaults.bantime)),
    option("findtime", defaults.findtime),
    option("maxretry", defaults.maxretry),
    option("ignoreip", defaults.ignoreip.join(" ")),
    option("backend", backend),
    ...commonLines(defaults),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Backend

export interface BackendFacts {
  /** The backend the user asked for ("auto": let us choose). */
  requested: Fail2banJail["backend"];
  /** Whether at least one of the jail's logpath globs names an existing file (false without logpath). */
  logpathExists: boolean;
  /** Whether fail2ban can read the journal: python3-systemd importable and journald running. */
  journalAvailable: boolean;
}

export type BackendChoice = { ok: true; backend: ResolvedBackend; reason: string } | { ok: false; problem: string; hint: string };

/**
 * Where a jail reads its failures: the log files where they exist, the systemd journal where
 * they do not (Proxmox VE 8+ logs to journald only), unless the user chose. fail2ban itself
 * refuses to start at all when a file-backend jail finds no log file, so that is refused here.
 */
export function chooseBackend(facts: BackendFacts): BackendChoice {
  const noJournal = {
    ok: false as const,
    problem: "the systemd journal is not readable by fail2ban",
    hint: "install python3-systemd (and make sure systemd-journald runs), or set logpath to an existing log file",
  };
  const noFiles = (backend: string) => ({
    ok: false as const,
    problem: `backend ${backend} needs an existing log file, and none of logpath exists; fail2ban would refuse to start ("Have not found any log file")`,
    hint: "fix logpath, or use backend auto/systemd to read the journal",
  });
  switch (facts.requested) {
    case "systemd":
      return facts.journalAvailable ? { ok: true, backend: "systemd", reason: "systemd backend requested" } : noJournal;
    case "pyinotify":
    case "polling":
      return facts.logpathExists ? { ok: true, backend: facts.requested, reason: `${facts.requested} backend requested` } : noFiles(facts.requested);
    case "auto":
      if (facts.logpathExists) return { ok: true, backend: "auto", reason: "log file exists" };
      if (facts.journalAvailable) return { ok: true, backend: "systemd", reason: "no log file, reading the systemd journal" };
      return { ok: false, problem: "neither a log file of logpath nor the systemd journal is available", hint: noJournal.hint };
  }
}

// ---------------------------------------------------------------------------------------------
// Sample check (fail2ban-regex on the host, before a filter is installed)

/** Content of the file holding the samples: one per line; match lines first. */
export function samplesFileContent(samples: FilterSamples): string {
  return [...samples.match, ...samples.noMatch].join("\n") + "\n";
}

/** Arguments of fail2ban-regex for the sample check: only the matched lines, machine-readable (parseRegexMatches). */
export function sampleCheckArgs(samplesFile: string, filterFile: string): string[] {
  return ["--out", "msg", samplesFile, filterFile];
}

/** What went wrong in a sample check, from the lines fail2ban-regex matched; empty when every sample behaved. */
export function sampleCheckProblems(matchedLines: readonly string[], samples: FilterSamples): string[] {
  const matched = new Set(matchedLines);
  const problems: string[] = [];
  for (const line of samples.match) if (!matched.has(line)) problems.push(`should match but does not: ${line}`);
  for (const line of samples.noMatch) if (matched.has(line)) problems.push(`should not match but does: ${line}`);
  // Anything else means it did not read the samples as lines of a file.
  const known = new Set([...samples.match, ...samples.noMatch]);
  for (const line of matched) if (!known.has(line)) problems.push(`matched a line that is no sample: ${line}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Diff metadata

/**
 * Inputs that name the file force a replacement (delete the old file, write the new one);
 * every other change rewrites the file in place and reloads fail2ban. Filter samples change no
 * file: a samples-only change re-runs the check and needs no reload.
 */
export const FILTER_REPLACE_KEYS = ["name"] as const;
export const JAIL_REPLACE_KEYS = ["name"] as const;
