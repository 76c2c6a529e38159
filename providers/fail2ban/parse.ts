// Parsers for the outputs of fail2ban's command line tools, as captured from the real programs
// in test/fixtures/fail2ban/captured/ (1.0.2) and regex-out/ (fail2ban-regex, 1.0.2 and 1.1.0). They throw Fail2banOutputError on output they
// do not recognise rather than guess: the provider turns that into a clear failure.

export class Fail2banOutputError extends Error {
  constructor(what: string, output: string) {
    super(`unexpected output of ${what}: ${JSON.stringify(output.slice(0, 300))}`);
    this.name = "Fail2banOutputError";
  }
}

/** "|- Key:\tvalue" lines of fail2ban-client's tree output, keyed by their label. */
export function treeFields(stdout: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const match = /^[|`\s-]*([A-Za-z][A-Za-z ]*):\t(.*)$/.exec(line);
    if (match) fields.set(match[1]!, match[2]!.trim());
  }
  return fields;
}

export function words(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

export function treeCount(fields: Map<string, string>, key: string, what: string, stdout: string): number {
  const value = fields.get(key);
  if (value === undefined || !/^\d+$/.test(value)) throw new Fail2banOutputError(what, stdout);
  return Number(value);
}

// ---------------------------------------------------------------------------------------------
// fail2ban-client status

export interface ServerStatus {
  jails: string[];
}

/** `fail2ban-client status`: the running jails. */
export function parseServerStatus(stdout: string): ServerStatus {
  const what = "fail2ban-client status";
  if (!stdout.startsWith("Status\n")) throw new Fail2banOutputError(what, stdout);
  const fields = treeFields(stdout);
  const list = fields.get("Jail list");
  if (list === undefined) throw new Fail2banOutputError(what, stdout);
  const jails = list.split(",").map((j) => j.trim()).filter(Boolean);
  if (treeCount(fields, "Number of jail", what, stdout) !== jails.length) throw new Fail2banOutputError(what, stdout);
  return { jails };
}

// ---------------------------------------------------------------------------------------------
// Log messages on stderr, fail2ban-client -t

export interface LogMessage {
  level: string;
  logger: string;
  message: string;
}

/**
 * fail2ban's log lines on stderr ("2026-11-25 14:26:28,752 fail2ban.jailreader [231]: ERROR
 * Unable to read ..."); lines that do not start a message continue the previous one.
 */
export function parseLogMessages(stderr: string): LogMessage[] {
  const messages: LogMessage[] = [];
  for (const line of stderr.split("\n")) {
    const match = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\S+)\s*\[\d+\]: (CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)\s+(.*)$/.exec(line);
    if (match) messages.push({ logger: match[1]!, level: match[2]!, message: match[3]! });
    else if (messages.length > 0 && line.trim() !== "") messages[messages.length - 1]!.message += "\n" + line.trim();
  }
  return messages;
}

// Debian 12's fail2ban.conf lacks allowipv6 and every run warns about it: noise, not a finding.
const BENIGN_WARNINGS = [/^'allowipv6' not defined in 'Definition'/];

export interface ConfigTest {
  ok: boolean;
  errors: string[];
  /** Warnings -t passes although they change the meaning (e.g. "Wrong value for 'maxretry'"). */
  warnings: string[];
}

/** `fail2ban-client -t`: exit code 0 and "OK: configuration test is successful", or errors on stderr. */
export function parseConfigTest(exitCode: number | null, stdout: string, stderr: string): ConfigTest {
  const messages = parseLogMessages(stderr);
  const errors = messages.filter((m) => m.level === "ERROR" || m.level === "CRITICAL").map((m) => m.message);
  const warnings = messages.filter((m) => m.level === "WARNING" && !BENIGN_WARNINGS.some((b) => b.test(m.message))).map((m) => m.message);
  const ok = exitCode === 0 && stdout.includes("OK: configuration test is successful");
  if (!ok && errors.length === 0) errors.push(stdout.trim() || `fail2ban-client -t exited with ${exitCode}`);
  return { ok, errors, warnings };
}

// ---------------------------------------------------------------------------------------------
// fail2ban-regex

/**
 * The lines fail2ban-regex matched, from `--out msg`: each matched log line as it was read, one
 * per line, and nothing else, in 1.0.2 and 1.1.0 alike (its report's banner differs between them:
 * "Use   failregex file" became "Use      filter file"). It exits 0 even when nothing matched,
 * and takes a log argument that is not a file as one log line: compare the lines with the
 * samples. A filter that does not compile exits 255 with "ERROR: ..." on stdout (parseRegexError).
 */
export function parseRegexMatches(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line !== "");
}

/** The error of a fail2ban-regex run that exited non-zero ("ERROR: Unable to compile ..."), or null. */
export function parseRegexError(stdout: string, stderr: string): string | null {
  const error = /^ERROR: ([\s\S]*)$/m.exec(stdout);
  if (error) return error[1]!.trim();
  const errors = parseLogMessages(stderr).filter((m) => m.level === "ERROR" || m.level === "CRITICAL");
  return errors.length ? errors.map((m) => m.message).join("\n") : null;
}
