// The functional core of a host's preflight: one read-only script that gathers every fact
// about the node a later step could refuse on, and the pure verdict over those facts. It runs
// before the first change on the host, so that a refusal leaves the host untouched.
import { chooseBackend, FAIL2BAN_CONFIG_DIR, MANAGED_HEADER, ownJailFilesGlob } from "../fail2ban/logic";
import { JOURNALD_CONDITION, logpathExistsCondition, PYTHON_SYSTEMD_CONDITION } from "../fail2ban/service";
import { parseConfigTest } from "../fail2ban/parse";
import { BEFORE_DIR, recordDir } from "../ssh/before";
import { fileDumpScript, parseFileDump, snapshotText } from "../ssh/files";
import { commandLine, shellQuote } from "../ssh/quote";
import { forwardPolicyProblem, parseUfwFiles, predictUserRules, routedPolicyFor, storedTuples, UFW_FILES, UfwFileState } from "../ufw/logic";
import { parseSwitchOnFacts, ruleChangeProblems, SWITCH_ON_FACTS_SCRIPT, SwitchOnFacts, switchOnProblems } from "../ufw/switch-on";
import { PreflightInputs } from "./schema";

/** The oldest fail2ban this program is tested with (Debian 12's 1.0.2; Debian 13 has 1.1.0). */
export const OLDEST_FAIL2BAN = [1, 0] as const;

export interface NodeFacts extends SwitchOnFacts {
  /** Per needed package: installed version, and the version apt would install (undefined: none). */
  packages: Record<string, { installed?: string; candidate?: string }>;
  /** Whether apt has package lists at all; without them "no candidate" means nothing yet. */
  aptLists: boolean;
  journald: boolean;
  pythonSystemd: boolean;
  /** Per jail of the inputs, in order: whether one of its logpath globs names a file. */
  logpathExists: boolean[];
  /** Host entries of this stack with records on the node (providers/ssh/before.ts); undefined when none. */
  recordHosts?: string[];
  /** ufw's state files that exist, text by path: none before ufw is installed. */
  ufwFiles: Record<string, string>;
  /** fail2ban-client -t before any change: undefined when fail2ban is not installed. */
  fail2banTest?: { ok: boolean; errors: string[] };
}

const TAB = "\t";

/**
 * One script printing `key<TAB>value...` lines, then fail2ban-client -t's output last. Run with
 * $SSH_CONNECTION as $1 (RunOptions.passSshConnection), as SWITCH_ON_FACTS_SCRIPT needs.
 */
export function factsScript(inputs: PreflightInputs): string {
  const yesNo = (key: string, condition: string) => `if ${condition}; then echo '${key}${TAB}yes'; else echo '${key}${TAB}no'; fi`;
  return [
    SWITCH_ON_FACTS_SCRIPT,
    // In a subshell: the dump sets the positional parameters, and $1 is the SSH connection.
    `(${fileDumpScript(Object.values(UFW_FILES))})`,
    // apt's candidate matters only for a package that is not installed when we may install it, and
    // apt-cache builds its whole package cache in memory where none is saved (0.6 CPU s a call).
    ...inputs.packages.needed.map((name) => {
      const quoted = commandLine([name]);
      const aptCandidate = inputs.packages.install ? `$(apt-cache policy ${quoted} 2>/dev/null | sed -n 's/^ *Candidate: //p')` : "";
      return [
        `status=$(dpkg-query -W -f='\${db:Status-Abbrev} \${Version}' ${quoted} 2>/dev/null)`,
        `case "$status" in "ii "*) candidate= ;; *) candidate=${aptCandidate} ;; esac`,
        `printf 'package${TAB}%s${TAB}%s${TAB}%s\\n' ${quoted} "$status" "$candidate"`,
      ].join("\n");
    }),
    yesNo("apt-lists", "ls /var/lib/apt/lists/ 2>/dev/null | grep -q '_Packages$'"),
    yesNo("journald", JOURNALD_CONDITION),
    yesNo("python3-systemd", PYTHON_SYSTEMD_CONDITION),
    ...inputs.jails.map((jail, index) => yesNo(`logpath${TAB}${index}`, logpathExistsCondition(jail.logpath ?? []))),
    `for d in ${shellQuote(`${BEFORE_DIR}/${inputs.owner}`)}/*/; do [ -d "$d" ] && printf 'record-host${TAB}%s\\n' "$(basename "$d")"; done`,
    // Last, as its output may span lines: the configuration as the host has it before any change.
    `if command -v fail2ban-client >/dev/null 2>&1; then if out=$(fail2ban-client -t </dev/null 2>&1); then echo 'fail2ban-test${TAB}ok'; else echo 'fail2ban-test${TAB}failed'; printf '%s\\n' "$out"; fi; fi`,
  ].join("\n");
}

/** installationTraceScript's line when the node has something of this stack. */
export const THIS_INSTALLATION = "this-installation";

/**
 * Prints THIS_INSTALLATION when the node has something of this stack: its records, or a fail2ban
 * file this program wrote (every stack writes its [DEFAULT] file; a stack deployed before the
 * records existed has the files). A reinstalled node has neither.
 */
export function installationTraceScript(owner: string, host: string, roots = { records: BEFORE_DIR, fail2ban: FAIL2BAN_CONFIG_DIR }): string {
  return `if [ -d ${shellQuote(recordDir(owner, host, roots.records))} ] || grep -qsxF -- ${shellQuote(MANAGED_HEADER)} ${ownJailFilesGlob(roots.fail2ban)}; then echo ${THIS_INSTALLATION}; fi`;
}

/** Parses factsScript's output. */
export function parseFacts(stdout: string, jailCount: number): NodeFacts {
  const lines = stdout.split("\n");
  // fail2ban's test output, last, is not ours to read as facts.
  const testAt = lines.findIndex((line) => line.startsWith(`fail2ban-test${TAB}`));
  const factLines = lines.slice(0, testAt === -1 ? undefined : testAt).join("\n");
  const facts: NodeFacts = {
    ...parseSwitchOnFacts(factLines),
    packages: {},
    aptLists: false,
    journald: false,
    pythonSystemd: false,
    logpathExists: Array(jailCount).fill(false),
    ufwFiles: Object.fromEntries(parseFileDump(factLines).flatMap((file) => (file.present ? [[file.path, snapshotText(file) ?? ""]] : []))),
  };
  for (const [index, line] of lines.entries()) {
    const [key, ...values] = line.split(TAB);
    if (key === "package") {
      const [name, status = "", candidate = ""] = values;
      const installed = /^ii\s+(\S+)/.exec(status)?.[1];
      facts.packages[name] = { installed, candidate: candidate && candidate !== "(none)" ? candidate : undefined };
    } else if (key === "apt-lists") facts.aptLists = values[0] === "yes";
    else if (key === "journald") facts.journald = values[0] === "yes";
    else if (key === "python3-systemd") facts.pythonSystemd = values[0] === "yes";
    else if (key === "logpath") facts.logpathExists[Number(values[0])] = values[1] === "yes";
    else if (key === "record-host") (facts.recordHosts ??= []).push(values[0]);
    else if (key === "fail2ban-test") {
      const test = parseConfigTest(values[0] === "ok" ? 0 : 1, values[0] === "ok" ? "OK: configuration test is successful" : "", lines.slice(index + 1).join("\n"));
      // fail2ban's closing "ERROR: test configuration failed" says nothing the other errors do not.
      facts.fail2banTest = { ok: test.ok, errors: test.errors.filter((error) => error !== "ERROR: test configuration failed") };
      break;
    }
  }
  return facts;
}

/** Whether a Debian version ("1:1.0.2-2", "1.1.0-8") is at least major.minor. */
export function versionAtLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const match = /^(?:\d+:)?(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [have, haveMinor] = [Number(match[1]), Number(match[2])];
  return have > major || (have === major && haveMinor >= minor);
}

export interface PreflightProblem {
  /** The config key the problem is about, as in the stack config. */
  field: string;
  problem: string;
}

/** Everything about this node that a later step would refuse; empty when the host can take the config. */
export function preflightProblems(inputs: PreflightInputs, facts: NodeFacts): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  // A package is there after the Packages resource when it is installed, or installable. Without
  // apt's lists (never updated) the candidate is unknown until that resource's apt-get update.
  const available = (name: string) => {
    const found = facts.packages[name] ?? {};
    return found.installed !== undefined || (inputs.packages.install && (found.candidate !== undefined || !facts.aptLists));
  };
  for (const name of inputs.packages.needed) {
    if (available(name)) continue;
    problems.push(
      inputs.packages.install
        ? { field: "packages.install", problem: `${name} is not installed and no apt repository of the host offers it (apt-cache policy ${name}: no candidate); add a Debian repository that has it` }
        : { field: "packages.install", problem: `${name} is not installed, and packages.install is false; install it, or let the program (packages.install: true)` },
    );
  }
  const fail2ban = facts.packages.fail2ban;
  const fail2banVersion = fail2ban?.installed ?? (inputs.packages.install ? fail2ban?.candidate : undefined);
  if (fail2banVersion !== undefined && !versionAtLeast(fail2banVersion, OLDEST_FAIL2BAN)) {
    problems.push({ field: "packages", problem: `fail2ban ${fail2banVersion} is older than ${OLDEST_FAIL2BAN.join(".")}, the oldest this program is tested with (Debian 12 has 1.0.2, Debian 13 1.1.0)` });
  }
  const renamed = renamedHostProblem(inputs, facts);
  if (renamed) problems.push(renamed);
  const routed = routedPolicyFor(inputs.ufw.routed, facts.bridgeNfCallIptables);
  const forward = routed && forwardPolicyProblem({ routed, bridgeNfCallIptables: facts.bridgeNfCallIptables, allowForwardDeny: inputs.ufw.allowForwardDeny });
  if (forward) problems.push({ field: "ufw.defaults.routed", problem: forward });
  problems.push(...switchOnPreflight(inputs, facts));
  // The journal counts when journald runs and python3-systemd is, or will be, installed.
  const journalAvailable = facts.journald && (facts.pythonSystemd || (inputs.packages.needed.includes("python3-systemd") && available("python3-systemd")));
  inputs.jails.forEach((jail, index) => {
    if (!jail.enabled) return;
    const choice = chooseBackend({ requested: jail.backend, logpathExists: facts.logpathExists[index] ?? false, journalAvailable });
    if (!choice.ok) problems.push({ field: `fail2ban.jails[${index}].backend`, problem: `jail ${jail.name}: ${choice.problem}; ${choice.hint}` });
  });
  return problems;
}

/**
 * The node already is another host entry of this stack (renamed, or listed twice): its records
 * say so. Going on would roll the old entry back and harden the node again as the new one.
 */
export function renamedHostProblem(inputs: PreflightInputs, facts: NodeFacts): PreflightProblem | undefined {
  const me = inputs.connection.name;
  const other = facts.recordHosts?.find((name) => name !== me);
  if (other === undefined) return undefined;
  const records = `${BEFORE_DIR}/${inputs.owner}/${other}/`;
  return {
    field: "name",
    problem:
      `this node is host entry ${other} of this stack (its records are in ${records}): renaming a host entry (${other} to ${me}) is not done in place, as the name is its resources' identity, and the change would roll ${other} back and harden the node again as ${me}. ` +
      `To keep the node as it is, set the name back to ${other}. To rename it anyway: remove the entry, run \`pulumi up\` (which rolls ${other} back), then add it as ${me} and run \`pulumi up\`. If the stack has no entry ${other} any more, remove ${records} on the node`,
  };
}

/** ufw's state as the node has it; before ufw is installed, the Debian package's (off, no rules, IPv6 on). */
function ufwStateOf(files: Record<string, string>): UfwFileState | { problem: string } {
  if (Object.keys(files).length === 0) return { enabled: false, logging: undefined, defaults: { incoming: "deny", outgoing: "allow", routed: "deny" }, ipv6: true, tuplesV4: [], tuplesV6: [] };
  try {
    return parseUfwFiles(files);
  } catch (error) {
    return { problem: `ufw's state could not be read: ${(error as Error).message}; check /etc/ufw and /etc/default/ufw on the host` };
  }
}

/**
 * What ufw activation would refuse, judged now: the program's rules after those the node already
 * stores, for this program's source address and the members of the node's cluster. On a node
 * where ufw is already on, what the stack's incoming policy would cut that the node's does not
 * (a running ufw told to deny is a switch-on of its own, refused again by the defaults step).
 */
function switchOnPreflight(inputs: PreflightInputs, facts: NodeFacts): PreflightProblem[] {
  if (!inputs.ufw.enabled) return [];
  const state = ufwStateOf(facts.ufwFiles);
  if ("problem" in state) return [{ field: "ufw", problem: state.problem }];
  const { ssh, cluster } = state.enabled
    ? ruleChangeProblems({
        state,
        after: predictUserRules(storedTuples(state), inputs.ufw.rules, { ipv6: state.ipv6 }),
        incomingAfter: inputs.ufw.incoming,
        facts,
        sshPort: inputs.ufw.sshPort,
        nodeName: inputs.connection.name,
      })
    : switchOnProblems({
        defaults: { incoming: inputs.ufw.incoming },
        rules: inputs.ufw.rules,
        activation: { enabled: true },
        sshPort: inputs.ufw.sshPort,
        existing: storedTuples(state),
        ipv6: state.ipv6,
        facts,
        nodeName: inputs.connection.name,
      });
  return [...ssh.map((problem) => ({ field: "ufw.rules", problem })), ...cluster.map((problem) => ({ field: "ufw.clusterTraffic", problem }))];
}
