import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Release } from "../../sandbox";
import { CATEGORIES, Category, inputFigures } from "./bad-inputs";

// docs/RELIABILITY.md: the figures of the reliability suite (issue 8).
//
// The checked part (between the markers) is rendered from the suite's plan
// (the bad-input table and the fault plan below) and from the counts the last
// run wrote into docs/reliability-figures.json: SSH connections the host saw
// during the previews, what was lost, secrets found. The suite asserts that
// each run injects exactly the planned faults and loses nothing, and a unit
// test fails when the committed document's checked part differs from what the
// plan and the committed counts render, so it cannot go stale or be written by
// hand. Timings and other measurements of the last run go below the checked part.
//
//   node --import tsx test/support/reliability-report.ts           rewrite docs/RELIABILITY.md
//   node --import tsx test/support/reliability-report.ts --check   exit 1 if it is stale

const repoRoot = join(__dirname, "..", "..");
export const DOC_PATH = join(repoRoot, "docs", "RELIABILITY.md");
/** Counts and measurements of the last run, written by the suite; committed with the document. */
export const FIGURES_PATH = join(repoRoot, "docs", "reliability-figures.json");

const BEGIN = "<!-- reliability:checked:begin -->";
const END = "<!-- reliability:checked:end -->";

// ------------------------------------------------------------------ the fault plan

export interface FaultPlan {
  id: string;
  fault: string;
  injected: string;
  /** Runs per node release: Debian 13 runs every fault, Debian 12 those whose behaviour depends on the release. */
  runs: Partial<Record<Release, number>>;
  expected: string;
}

export const RELEASE_NAMES: Record<Release, string> = { trixie: "Debian 13", bookworm: "Debian 12" };

/** Where the SSH connection of an `up` is cut: after this many remote commands of that up. */
export const CUT_AFTER_COMMANDS = [30, 8, 3];

export const FAULT_PLAN: FaultPlan[] = [
  {
    id: "unreachable",
    fault: "unreachable host",
    injected: "a host entry with an address of the sandbox network where nothing listens, connectTimeoutSeconds 4",
    runs: { trixie: 1 },
    expected: "`up` fails within the timeout naming host and address; no resource of that host in state",
  },
  {
    id: "sshd-stopped",
    fault: "sshd stopped",
    injected: "sshd stopped inside the node (`systemctl stop ssh`, its sessions killed), then `refresh`",
    runs: { trixie: 1, bookworm: 1 },
    expected: "`refresh` fails within connectTimeoutSeconds (4) naming the host; state and host unchanged",
  },
  {
    id: "host-key",
    fault: "host key changed",
    injected: "a new ed25519 host key installed inside the node and ssh.service restarted, then `refresh`",
    runs: { trixie: 1 },
    expected: "refused before any command (0 commands); state and host unchanged",
  },
  {
    id: "cut",
    fault: "connection cut in the middle of `up`",
    injected: `sshd stopped inside the node and its sessions killed (\`sshd\` on Debian 12, \`sshd-session\` on Debian 13) after ${CUT_AFTER_COMMANDS.join(", ")} remote commands of three \`up\`s (Debian 12: the first): adding 50 ufw rules, removing 5 of them, adding 5 others; each rewriting fail2ban files`,
    runs: { trixie: CUT_AFTER_COMMANDS.length, bookworm: 1 },
    expected: "no temp file left, every managed file either its old or its new content; the next `up` converges",
  },
  {
    id: "write-script",
    fault: "atomic write interrupted on the host",
    injected: "the write script run inside the node with its input cut short, with no input, killed (SIGTERM) and killed outright (SIGKILL) while writing, once its temp file exists",
    runs: { trixie: 4 },
    expected: "the target keeps its old content, mode and owner; no temp file left (after SIGKILL, the next write removes it)",
  },
  {
    id: "fail2ban-test",
    fault: "fail2ban configuration that fails `fail2ban-client -t`",
    injected: "a jail whose stock filter file is missing on the node",
    runs: { trixie: 1, bookworm: 1 },
    expected: "the jail file is rolled back and the create's record of it removed; fail2ban still running and banning (an attacker's three failed SSH logins get it banned)",
  },
  {
    id: "samples",
    fault: "filter samples that do not match on the host",
    injected: "a filter whose sample line fail2ban-regex does not match",
    runs: { trixie: 1, bookworm: 1 },
    expected: "`up` fails naming host, resource and field filter.samples; host untouched",
  },
  {
    id: "fifty-rules",
    fault: "50 rules on one host",
    injected: "ufw.extraRules with 50 rules",
    runs: { trixie: 1, bookworm: 1 },
    expected: "all 50 present exactly once, in order",
  },
  {
    id: "two-stacks",
    fault: "a second stack on the host, both `up`s at once",
    injected: "a second stack for the same host (its own rules and [DEFAULT] values), its `up` started with the first stack's adding rules and rewriting the fail2ban files; the test holds the host lock until both wait for it",
    runs: { trixie: 1 },
    expected: "two scripts of the first `up` and one of the second wait at the host lock at once, then each takes it only after the last holder ended; the second is refused, naming the first stack, and changes nothing; every rule of the first present exactly once, each file its complete content; `fail2ban-client -t` passes",
  },
  {
    id: "limit",
    fault: "`limit` rule on the SSH port",
    injected: "ufw.rules with limit 22/tcp, then up, up, refresh, every later operation and destroy",
    runs: { trixie: 1, bookworm: 1 },
    expected: "every operation succeeds with at most one SSH connection per host (ufw refuses the 6th in 30 s)",
  },
];

/**
 * Where test/ownership.test.ts cuts an `up` (issue 15): right after a wrapped command on the host whose
 * words start with `trigger` finished, before its answer reaches the program; `leaves` is what the cut leaves.
 */
export const CUT_POINTS: { trigger: string; what: string; leaves: string }[] = [
  {
    trigger: "mv -f /var/lib/proxmox-hardening/before/",
    what: "the up's first record written, before any change (the packages step's, or the cluster firewall's, whose `pvesh set` follows in the same script)",
    leaves: "the record; nothing changed yet",
  },
  { trigger: "pvesh set", what: "the Proxmox firewall option set", leaves: "the option set; its record says the value before (enable 1)" },
  { trigger: "ufw allow in proto tcp from any to any port 22", what: "the first ufw rule added", leaves: "the rule added; its record says it was not there" },
  { trigger: "ufw allow in proto tcp from any to any port 9101", what: "a ufw rule added after the administrator's own (9100, adopted)", leaves: "the rule added; its record says it was not there" },
  { trigger: "ufw default", what: "a ufw default policy set (incoming deny; the administrator had allow)", leaves: "the policy set; the record holds the policies and logging before" },
  { trigger: "ufw --force enable", what: "ufw switched on", leaves: "ufw on; the record says it was off" },
  { trigger: "fail2ban-client -t", what: "a fail2ban file written (each write is tested at once)", leaves: "the new file, complete; its record holds the file before (the administrator's, or none)" },
  { trigger: "fail2ban-client -t", what: "the next fail2ban file written, or the test before the reload", leaves: "as above, or nothing new" },
  { trigger: "fail2ban-client start", what: "fail2ban started (it was stopped)", leaves: "fail2ban running; the record says it was stopped" },
];

export const SECURITY_PLACES = [
  "`pulumi stack export` of every stack, after create, faults, updates and destroy (the credentials are there only as ciphertext: Pulumi records the default provider's config, the whole stack config, as its inputs)",
  "the stacks' config files `Pulumi.<stack>.yaml` (secrets encrypted) and the providers' metrics files",
  "engine output of a create with `--debug` (the providers' log lines included) and of a refresh with `--debug -v=9 --logflow --logtostderr`, except the engine's own dumps of the Node.js dynamic-provider plugin's Configure inputs (see below)",
  "Pulumi's automatic logs of the suite's stacks in ~/.pulumi/logs (encrypted by Pulumi)",
  "every error message the suite saw (faults, cut connections, a non-JSON secret hostCredentials)",
  "command lines of every process inside the host during a create through sudo (sampled 20 times a second)",
  "sudo's log of every command it ran (the node's journal)",
];

/** Measurements of one run; every `lost` figure must be 0. */
export interface Figures {
  input?: {
    configCases: number;
    resourceCases: number;
    enginePreviews: number;
    engineCategories: string[];
    sshConnectionsDuringPreviews: number;
    hostsChanged: number;
    seconds?: number;
  };
  faults?: {
    runs: Record<string, Partial<Record<Release, number>>>;
    lost: {
      halfWrittenFiles: number;
      leftoverTempFiles: number;
      missingOrDuplicateRules: number;
      secretsFound: number;
      hostsNotRestored: number;
      stateChangedByFailures: number;
    };
    measured: Record<string, string | number>;
    /** The nodes the run was measured on: name, release, versions. */
    nodes?: string[];
    seconds?: number;
  };
}

export function readFigures(): Figures {
  return existsSync(FIGURES_PATH) ? (JSON.parse(readFileSync(FIGURES_PATH, "utf8")) as Figures) : {};
}

export function writeFigures(part: Partial<Figures>): void {
  writeFileSync(FIGURES_PATH, `${JSON.stringify({ ...readFigures(), ...part }, null, 2)}\n`);
}

// ------------------------------------------------------------------ rendering

const LOST_ROWS: Record<keyof NonNullable<Figures["faults"]>["lost"], string> = {
  halfWrittenFiles: "half-written managed files",
  leftoverTempFiles: "temp files left behind",
  missingOrDuplicateRules: "ufw rules missing or duplicated",
  secretsFound: "secrets in plain text",
  hostsNotRestored: "hosts not back to their exact previous state after destroy",
  stateChangedByFailures: "state changed by a failed operation",
};

const NOT_RUN = "not measured: no run recorded in docs/reliability-figures.json";

function checkedPart(figures: Figures): string {
  const table = inputFigures();
  const rows = (Object.keys(CATEGORIES) as Category[]).map((category) => {
    const f = table.byCategory[category];
    return `| ${CATEGORIES[category]} | ${f.config} | ${f.resource} |`;
  });
  const total = table.configCases + table.resourceCases;
  const input = figures.input;
  const lost = figures.faults?.lost;
  const duringPreviews = input
    ? `During them the host saw **${input.sshConnectionsDuringPreviews} SSH connections** (its own connection tracking; the providers' metrics agree),\nand its state was **${input.hostsChanged === 0 ? "unchanged" : "changed"}**: checksums, modes and owners of every file under /etc/ufw, /etc/default/ufw, /etc/fail2ban`
    : `SSH connections and changes on the host during them: ${NOT_RUN}; checked: checksums, modes and owners of every file under /etc/ufw, /etc/default/ufw, /etc/fail2ban`;
  const secretsFound = lost === undefined ? `Found: ${NOT_RUN}.` : lost.secretsFound === 0 ? "Found in none of them." : `Found ${lost.secretsFound} times (the run's failures name the places).`;
  const onNodes = (runs: FaultPlan["runs"]) => (Object.keys(RELEASE_NAMES) as Release[]).filter((release) => runs[release]).map((release) => `${runs[release]} (${RELEASE_NAMES[release]})`).join(", ");
  const faultRows = FAULT_PLAN.map((plan) => `| ${plan.fault} | ${plan.injected} | ${onNodes(plan.runs)} | ${plan.expected} |`);
  const faultRuns = FAULT_PLAN.reduce((sum, plan) => sum + Object.values(plan.runs).reduce((a, b) => a + b, 0), 0);
  return [
    "## Bad input",
    "",
    `${total} bad inputs tried: ${table.configCases} stack configs (checked by the program's config parser, \`parseProgramConfig\`)`,
    `and ${table.resourceCases} resource inputs (checked by each dynamic provider's \`check\`). Every one is refused`,
    "at preview with a message naming the host, the resource and the field; the table is `test/support/bad-inputs.ts`.",
    "",
    "| category | stack configs | resource inputs |",
    "|---|---:|---:|",
    ...rows,
    `| **total** | **${table.configCases}** | **${table.resourceCases}** |`,
    "",
    `${table.enginePreviews} \`pulumi preview\` runs of the real engine against a sandbox namespace host carry examples of every category`,
    "(several problems per preview) and show the same messages; one more has a `hostCredentials` secret that is not JSON.",
    duringPreviews,
    "and /etc/pve, `iptables-save`/`ip6tables-save` inside the host, `ufw status verbose` and the Proxmox firewall options.",
    "",
    "## Lockout",
    "",
    `${table.byCategory.lockout.config + table.byCategory.lockout.resource} configs that would cut the program's own SSH access`,
    "(incoming deny without the SSH port, a deny or reject of it from everywhere, a rule order that shadows the allow, an allow",
    "only from elsewhere or for the other IP family) are refused at preview. A `limit` rule on the SSH port is accepted and works:",
    "the host sees one new SSH connection per operation (counted inside it), below ufw's limit of 6 new connections in 30 seconds.",
    "",
    "## Faults and load",
    "",
    `${faultRuns} runs of ${FAULT_PLAN.length} kinds of faults and load, each on the real engine and a systemd-booted sandbox node: every kind on a`,
    "Debian 13 node logging to the journal only (a default Proxmox VE 9), and those whose behaviour depends on the release (fail2ban",
    "1.0.2 against 1.1.0, OpenSSH 9.2's sshd against 10's sshd-session, the reference procedure's create and destroy) on a Debian 12",
    "node logging to the journal only (a default Proxmox VE 8) too:",
    "",
    "| fault | injected | runs | expected and found |",
    "|---|---|---:|---|",
    ...faultRows,
    "",
    "## Interrupted runs: what was there before",
    "",
    "Before its first change of a thing on a node (a ufw rule, ufw's defaults, on/off state and files, a fail2ban file,",
    "whether fail2ban runs, a Proxmox firewall option, a package), a create records what the node had, in",
    "`/var/lib/proxmox-hardening/before/<project>/<stack>/<host>/<key>.json`: under the host lock, written atomically, and",
    "only if this stack has no record of it yet, so the first record wins across any number of interrupted runs. The",
    "create keeps the recorded value as the resource's `previous`, whatever it finds: a change its own cut run made is",
    "undone on destroy, what really was there is kept or put back. Stacks (and host entries of one stack) each have",
    "their own directory; delete removes the records, and the directories it empties. State written before records",
    "existed has none: what that state says was there before stays the truth.",
    "",
    `test/ownership.test.ts runs \`up\` on a sandbox namespace host that has an administrator's rule (9100/tcp), incoming allowed,`,
    "their own fail2ban defaults file, the Proxmox firewall on and fail2ban stopped, and cuts it (every sshd killed inside the host) right",
    `after each of these ${CUT_POINTS.length} points, one per \`up\`, wherever the engine's parallelism puts them:`,
    "",
    "| cut right after | what the cut leaves on the node |",
    "|---|---|",
    ...CUT_POINTS.map((point) => `| ${point.what} (\`${point.trigger}\`) | ${point.leaves} |`),
    "",
    "After the cuts one `up` converges and a second changes nothing; `destroy` then leaves the node exactly as before",
    "the first `up`: every file under /etc/ufw, /etc/default/ufw, /etc/fail2ban and /etc/pve byte for byte with mode",
    "and owner (the administrator's defaults file included), `ufw show added` (their rule kept, the cut runs' removed),",
    "`ufw status verbose` (incoming allowed), the Proxmox options (enable 1), fail2ban stopped, the installed packages,",
    "no records left. A second stack for the same host is then refused, naming the first, and changes nothing.",
    "Packages are never installed there (the sandbox shares the machine's /usr): their record is unit-tested only.",
    "",
    "## Security",
    "",
    "The SSH private key (given as the secret `sshPrivateKey`) and the sudo user's password (secret `hostCredentials`) were",
    "searched for in plain text, in:",
    "",
    ...SECURITY_PLACES.map((place) => `- ${place}`),
    "",
    `${secretsFound} One exception is Pulumi's, not the program's: at \`-v=9\` the engine prints every property it`,
    "marshals over gRPC, and it hands the stack's whole config to the Node.js dynamic-provider plugin (which does not accept",
    "secrets, so they go unwrapped) in `Configure`; those lines show the secret config values. Keep `-v` at 8 or below with",
    "secrets in the stack config, or give the key as `sshPrivateKeyPath` (never read by Pulumi).",
    "",
    "Files the program writes are owned by root:root with mode 0644 (none holds a secret); files it puts back keep their",
    "original mode and owner. A changed host key is refused before any command runs (one handshake, no command, no login).",
    "",
    "## Destroy",
    "",
    "After every failure above, the host and the stack's state are checked against what they were before it: same files",
    "(content, mode, owner), same ruleset, ufw status, Proxmox options and records of what the host had before, and the same",
    "resources in state (all but the host's read-only preflight, which an `up` refused later may still save with the config it",
    "checked). At the end, `destroy` (with the `limit` rule still on) returns each node to its state before the suite: every",
    "file under /etc/ufw, /etc/default/ufw, /etc/fail2ban and /etc/pve byte for byte with its mode and owner, `ufw status",
    "verbose`, the Proxmox firewall options, no record or directory left under /var/lib/proxmox-hardening, fail2ban running",
    "or not as before (Debian 13's ran from boot; Debian 12's, journal only, had failed at boot and is stopped again); the",
    "ruleset inside the node filters exactly as before (`ufw disable` leaves its emptied chains and the jumps to them until",
    "the next boot, as on any host; they are compared by effect).",
    "",
    "## Lost",
    "",
    "Counted by test/reliability.test.ts in its last run:",
    "",
    "| what | found |",
    "|---|---:|",
    ...Object.entries(LOST_ROWS).map(([key, what]) => `| ${what} | ${lost ? lost[key as keyof typeof lost] : NOT_RUN} |`),
    "",
    "## Which test measures what",
    "",
    "- bad-input counts and categories, the lockout configs: `test/unit/reliability-input.test.ts` (every case refused by the parser or the provider's check, with the message a user reads)",
    "- engine previews, SSH connections the host saw during them, the host unchanged: `test/reliability-preview.test.ts` (connections counted inside the host by connection tracking, new TCP connections to port 22, refused ones included; the providers' metrics as a second count)",
    "- fault runs, one SSH connection per operation (create, refresh, destroy, a changed host key; none for a no-op `up`; each refused attempt with sshd stopped), ufw's limit refusing nothing, the two stacks' `up`s overlapping and serialized by the host lock (every request for it and every taking of it, with the time and whether the last holder's shell still ran, logged inside the host), secrets, file modes, destroy and the Lost table: `test/reliability.test.ts`",
    "- the cut points and what each leaves, the `up` that converges after them, destroy back to the state before (records included), a second stack refused: `test/ownership.test.ts`",
    "- the measurements below: the test named in each heading",
  ].join("\n");
}

function measuredPart(figures: Figures): string {
  const lines = ["## Measured in the last run (not checked)", ""];
  if (!figures.input && !figures.faults) return [...lines, "No run recorded: run `node --import tsx --test test/reliability*.test.ts`."].join("\n");
  if (figures.input?.seconds !== undefined) lines.push("### test/reliability-preview.test.ts", "", `- ${figures.input.enginePreviews + 1} engine previews, sandbox up and down: ${figures.input.seconds} s`, "");
  if (figures.faults) {
    lines.push("### test/reliability.test.ts", "");
    if (figures.faults.nodes) lines.push(...figures.faults.nodes.map((node) => `- measured on ${node}`));
    if (figures.faults.seconds !== undefined) lines.push(`- faults, load, security, destroy, sandbox up and down: ${figures.faults.seconds} s`);
    for (const [key, value] of Object.entries(figures.faults.measured)) lines.push(`- ${key}: ${value}`);
  }
  return lines.join("\n").trimEnd();
}

export function renderDoc(figures: Figures = {}): string {
  return [
    "# Reliability and security",
    "",
    "Bad input, faults and hostile values, with nothing lost (issue 8). Generated by",
    "`node --import tsx test/support/reliability-report.ts` from the plan of the reliability suite",
    "(`test/unit/reliability-input.test.ts`: the bad-input table, pure; `test/reliability-preview.test.ts`: the engine's preview;",
    "`test/reliability.test.ts`: faults, load, security and destroy) and the counts its last run wrote into",
    "`docs/reliability-figures.json`; do not edit either by hand. The part between the markers is checked by",
    "`test/unit/reliability-input.test.ts`; the measurements below it are from the last run.",
    "",
    BEGIN,
    checkedPart(figures),
    END,
    "",
    measuredPart(figures),
    "",
  ].join("\n");
}

/** The checked part of a document, or undefined when the markers are missing. */
export function checkedSection(doc: string): string | undefined {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  return begin >= 0 && end > begin ? doc.slice(begin + BEGIN.length, end).trim() : undefined;
}

export function expectedCheckedSection(): string {
  return checkedPart(readFigures()).trim();
}

if (require.main === module) {
  const rendered = renderDoc(readFigures());
  if (process.argv.includes("--check")) {
    const committed = existsSync(DOC_PATH) ? readFileSync(DOC_PATH, "utf8") : "";
    if (checkedSection(committed) !== checkedSection(rendered)) {
      console.error(`${DOC_PATH} is stale: run node --import tsx test/support/reliability-report.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(DOC_PATH, rendered);
    console.log(`wrote ${DOC_PATH}`);
  }
}
