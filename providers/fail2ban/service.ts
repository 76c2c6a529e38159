import { TEST_FAILED_EXIT } from "../configfile/logic";
import { commandLine } from "../ssh/quote";

// How fail2ban is driven on a host: through systemd where systemd runs the
// host (a real Proxmox VE node), with fail2ban-client where it does not.
// Always `fail2ban-client -t` first: a config error would stop fail2ban
// altogether, leaving the host unprotected.

const JAILS_NOT_RUNNING_EXIT = 4;

/** Exit codes of reloadScript, for messages. */
export const reloadExitMeaning: Record<number, string> = {
  [TEST_FAILED_EXIT]: "fail2ban-client -t rejected the configuration; fail2ban was not reloaded and keeps running on its previous configuration",
  [JAILS_NOT_RUNNING_EXIT]: "fail2ban reloaded, but not every enabled jail is running",
};

const testConfig = `if ! out=$(fail2ban-client -t </dev/null 2>&1); then printf '%s\\n' "$out" >&2; exit ${TEST_FAILED_EXIT}; fi`;

const isRunning = "{ if [ -d /run/systemd/system ]; then systemctl is-active --quiet fail2ban; else fail2ban-client ping >/dev/null 2>&1; fi; }";
const serviceCommand = (verb: "reload" | "start" | "restart") =>
  `{ if [ -d /run/systemd/system ]; then systemctl ${verb} fail2ban; else fail2ban-client ${verb} >/dev/null; fi; }`;

/** The line reloadScript prints when fail2ban was running before it (else it started it). */
export const WAS_RUNNING = "fail2ban was running";

/** Prints WAS_RUNNING when fail2ban runs: what a create records before its first reload. */
export const runningScript = `if ${isRunning}; then echo '${WAS_RUNNING}'; fi`;

/**
 * Reload when running, start when not, then wait (bounded) until every jail
 * answers. A reload that fails to bring a jail back leaves it stopped (seen
 * with fail2ban 1.0.2), so a missing jail gets one restart before giving up.
 */
export function reloadScript(jails: readonly string[]): string {
  const lines = [testConfig, `if ${isRunning}; then echo '${WAS_RUNNING}'; ${serviceCommand("reload")}; else ${serviceCommand("start")}; fi`];
  if (jails.length > 0) {
    const list = commandLine([...jails]);
    lines.push(
      // Up to 20 s per try: a jail on the systemd backend opens the journal before it answers.
      // One `fail2ban-client status` (its jail list) per try, not one per jail: each call
      // is a Python start, the largest cost on a host.
      "all_running() {",
      "  i=0",
      "  while [ \"$i\" -lt 40 ]; do",
      `    running=" $(fail2ban-client status 2>/dev/null | sed -n 's/^.*Jail list:[[:space:]]*//p' | tr ',' ' ') "`,
      "    ok=1",
      `    for jail in ${list}; do case "$running" in *" $jail "*) ;; *) ok=0 ;; esac; done`,
      '    [ "$ok" = 1 ] && return 0',
      "    i=$((i+1)); sleep 0.5",
      "  done",
      "  return 1",
      "}",
      `if ! all_running; then`,
      `  ${serviceCommand("restart")}`,
      `  if ! all_running; then for jail in ${list}; do fail2ban-client status "$jail" >&2 || echo "jail $jail is not running" >&2; done; exit ${JAILS_NOT_RUNNING_EXIT}; fi`,
      "fi",
    );
  }
  return lines.join("\n");
}

/** After a file was put back on destroy: test and reload only a fail2ban that runs; a stopped one stays stopped. */
export const reloadIfRunningScript = `if ${isRunning}; then\n${testConfig}\n${serviceCommand("reload")}\nfi`;


export const stopScript = `if [ -d /run/systemd/system ]; then systemctl stop fail2ban; else fail2ban-client stop >/dev/null; fi`;

/** Shell condition: one of the logpath globs names an existing file (false without logpath). */
export function logpathExistsCondition(logpaths: readonly string[]): string {
  // Globs must expand on the host, so they stay unquoted: every character a shell would treat
  // specially, other than the glob's own * ? [ ], is stripped (the schema refuses them anyway).
  const globWords = logpaths.map((path) => path.replace(/[^A-Za-z0-9_./*?[\]-]/g, "")).join(" ");
  return logpaths.length > 0 ? `ls -d ${globWords} >/dev/null 2>&1` : "false";
}

/** Shell conditions for fail2ban's journal backend: its Python module, and journald running. */
export const PYTHON_SYSTEMD_CONDITION = "python3 -c 'import systemd.journal' 2>/dev/null";
export const JOURNALD_CONDITION = "[ -S /run/systemd/journal/socket ]";

/**
 * Facts for chooseBackend, printed as `logpath yes|no` and `journal yes|no`.
 * The journal counts when python3-systemd imports and journald's socket exists.
 */
export function backendFactsScript(logpaths: readonly string[]): string {
  return [
    `if ${logpathExistsCondition(logpaths)}; then echo 'logpath yes'; else echo 'logpath no'; fi`,
    `if ${PYTHON_SYSTEMD_CONDITION} && ${JOURNALD_CONDITION}; then echo 'journal yes'; else echo 'journal no'; fi`,
  ].join("\n");
}

export function parseBackendFacts(output: string): { logpathExists: boolean; journalAvailable: boolean } {
  return { logpathExists: /^logpath yes$/m.test(output), journalAvailable: /^journal yes$/m.test(output) };
}
