import { commandLine } from "../ssh/quote";

// How fail2ban is driven on a host: through systemd where systemd runs the
// host (a real Proxmox VE node), with fail2ban-client where it does not.
// Always `fail2ban-client -t` first: a config error would stop fail2ban
// altogether, leaving the host unprotected.

const TEST_FAILED_EXIT = 3;
const JAILS_NOT_RUNNING_EXIT = 4;

/** Exit codes of reloadScript, for messages. */
export const reloadExitMeaning: Record<number, string> = {
  [TEST_FAILED_EXIT]: "fail2ban-client -t rejected the configuration; fail2ban was not reloaded and keeps running on its previous configuration",
  [JAILS_NOT_RUNNING_EXIT]: "fail2ban reloaded, but not every enabled jail is running",
};

const testConfig = `if ! out=$(fail2ban-client -t 2>&1); then printf '%s\\n' "$out" >&2; exit ${TEST_FAILED_EXIT}; fi`;

/** Reload when running, start when not, then wait (bounded) until every jail answers. */
export function reloadScript(jails: readonly string[], startIfStopped = true): string {
  const start = startIfStopped ? "start" : "true";
  const lines = [
    testConfig,
    "if [ -d /run/systemd/system ]; then",
    `  if systemctl is-active --quiet fail2ban; then systemctl reload fail2ban; else ${startIfStopped ? "systemctl start fail2ban" : "true"}; fi`,
    "else",
    `  if fail2ban-client ping >/dev/null 2>&1; then fail2ban-client reload >/dev/null; else ${startIfStopped ? `fail2ban-client ${start} >/dev/null` : "true"}; fi`,
    "fi",
  ];
  if (jails.length > 0) {
    const list = commandLine([...jails]);
    lines.push(
      // Up to 20 s: a jail on the systemd backend opens the journal before it answers.
      "i=0",
      "while :; do",
      "  ok=1",
      `  for jail in ${list}; do fail2ban-client status "$jail" >/dev/null 2>&1 || ok=0; done`,
      '  [ "$ok" = 1 ] && break',
      "  i=$((i+1))",
      `  if [ "$i" -ge 40 ]; then for jail in ${list}; do fail2ban-client status "$jail" >&2 || echo "jail $jail is not running" >&2; done; exit ${JAILS_NOT_RUNNING_EXIT}; fi`,
      "  sleep 0.5",
      "done",
    );
  }
  return lines.join("\n");
}

/** Reload only if fail2ban runs (used after a file is restored on destroy). */
export const reloadIfRunningScript = reloadScript([], false);

/** Whether fail2ban's server runs, printed as "running" or "stopped". */
export const runningScript =
  "if [ -d /run/systemd/system ]; then systemctl is-active --quiet fail2ban && echo running || echo stopped; else fail2ban-client ping >/dev/null 2>&1 && echo running || echo stopped; fi";

export const stopScript = "if [ -d /run/systemd/system ]; then systemctl stop fail2ban; else fail2ban-client stop >/dev/null; fi";

/** The test alone, for a file just written: exit TEST_FAILED_EXIT when it fails. */
export const testScript = testConfig;

/**
 * Facts for chooseBackend, printed as `logpath yes|no` and `journal yes|no`.
 * The journal counts when python3-systemd imports and journald's socket exists.
 */
export function backendFactsScript(logpaths: readonly string[]): string {
  // Globs must expand on the host, so they are matched with `ls` on the unquoted pattern's words.
  const quotedGlobs = logpaths.map((path) => path.replace(/[^A-Za-z0-9_./*?[\]-]/g, "")).join(" ");
  return [
    logpaths.length > 0 ? `if ls -d ${quotedGlobs} >/dev/null 2>&1; then echo 'logpath yes'; else echo 'logpath no'; fi` : "echo 'logpath no'",
    "if python3 -c 'import systemd.journal' 2>/dev/null && [ -S /run/systemd/journal/socket ]; then echo 'journal yes'; else echo 'journal no'; fi",
  ].join("\n");
}

export function parseBackendFacts(output: string): { logpathExists: boolean; journalAvailable: boolean } {
  return { logpathExists: /^logpath yes$/m.test(output), journalAvailable: /^journal yes$/m.test(output) };
}
