// The functional core of switching ufw on: what only the node can tell (bridge netfilter, this
// program's source address, the node's cluster), read in one round trip, and the verdict over it.
// Both the host's preflight (before the first change) and activation (just before `ufw enable`)
// use it, so the two judge alike; a rule taken away while ufw is on is judged by the same
// verdicts (ruleChangeProblems). No I/O.
import { parseCorosyncConf } from "../proxmox/logic";
import { addressFamilyOf } from "./address";
import { LockoutInput, corosyncCutProblems, incomingVerdict, lockoutProblems, predictUserRules, sshRestrictedTo } from "./logic";
import { filtersIncoming, storedTuples, UfwFileState } from "./state";
import type { UfwTuple } from "./tuples";

/** The cluster's corosync.conf as Proxmox VE keeps it (shared by every member). */
export const COROSYNC_CONF = "/etc/pve/corosync.conf";

export interface SwitchOnFacts {
  /** net.bridge.bridge-nf-call-iptables; undefined when unreadable (br_netfilter not loaded). */
  bridgeNfCallIptables: boolean | undefined;
  /** The connection as the host sees it ($SSH_CONNECTION): this program's address after any NAT, and the host's address it reached. */
  sshSource?: { client: string; server: string; serverPort?: number };
  hostname: string;
  /** The node's own addresses, to find it in corosync.conf's nodelist. */
  addresses: string[];
  /** corosync.conf's text; undefined on a node in no cluster. */
  corosyncConf?: string;
}

/** The line of the facts that tells bridge netfilter, alone enough for the routed policy. */
export const BRIDGE_NETFILTER_FACT = `printf 'bridge\\t%s\\n' "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo unknown)"`;

/**
 * Lines `key<TAB>value` with the facts. Needs $SSH_CONNECTION as $1: the login shell passes it
 * (RunOptions.passSshConnection), since sudo clears the environment.
 */
export const SWITCH_ON_FACTS_SCRIPT = [
  BRIDGE_NETFILTER_FACT,
  `printf 'ssh-connection\\t%s\\n' "$1"`,
  `printf 'hostname\\t%s\\n' "$(uname -n)"`,
  `ip -o addr show 2>/dev/null | awk '{ print "address\\t" $4 }'`,
  `if [ -f ${COROSYNC_CONF} ]; then printf 'corosync\\t%s\\n' "$(base64 -w0 ${COROSYNC_CONF})"; fi`,
].join("\n");

/** A dual-stack sshd reports an IPv4 peer as ::ffff:a.b.c.d; ufw sees it in its IPv4 rules. */
const unmapped = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");

/** Parses SWITCH_ON_FACTS_SCRIPT's lines out of a script's output; lines with other keys are skipped. */
export function parseSwitchOnFacts(stdout: string): SwitchOnFacts {
  const facts: SwitchOnFacts = { bridgeNfCallIptables: undefined, hostname: "", addresses: [] };
  for (const line of stdout.split("\n")) {
    const [key, value = ""] = line.split("\t");
    if (key === "bridge") facts.bridgeNfCallIptables = value === "1" ? true : value === "0" ? false : undefined;
    else if (key === "ssh-connection") {
      const [client, , server, port] = value.trim().split(/\s+/);
      const serverPort = Number(port);
      if (client && server) facts.sshSource = { client: unmapped(client), server: unmapped(server), ...(Number.isInteger(serverPort) && serverPort > 0 ? { serverPort } : {}) };
    } else if (key === "hostname") facts.hostname = value.trim();
    else if (key === "address" && value) facts.addresses.push(value.split("/")[0]);
    else if (key === "corosync") facts.corosyncConf = Buffer.from(value, "base64").toString("utf8");
  }
  return facts;
}

export interface SwitchOnInput extends Omit<LockoutInput, "sshSource"> {
  facts: SwitchOnFacts;
  /** The node's name in the stack, when corosync.conf does not name it. */
  nodeName: string;
}

/**
 * Why switching ufw on with these rules (stored ones in `existing`, then `rules`) would cut this
 * program's SSH connection (`ssh`) or split the node's cluster (`cluster`); both empty when it
 * may go on. Members are read from the node's corosync.conf, so members this stack does not
 * manage count too.
 */
export function switchOnProblems(input: SwitchOnInput): { ssh: string[]; cluster: string[] } {
  if (!input.activation.enabled) return { ssh: [], cluster: [] };
  const { facts } = input;
  const restrictedTo = sshRestrictedTo(input);
  const ssh =
    !facts.sshSource && restrictedTo.length > 0
      ? [
          `SSH would be allowed only from ${restrictedTo.join(", ")}, and the host did not tell this program's source address ($SSH_CONNECTION was empty), so whether this connection stays open cannot be told; allow SSH from anywhere, or check that sshd sets SSH_CONNECTION for the user's login shell`,
        ]
      : // With $SSH_CONNECTION, the port judged is the one the node sees (a port forward may map another to it).
        lockoutProblems({ ...input, sshPort: facts.sshSource?.serverPort ?? input.sshPort, sshSource: facts.sshSource });
  return { ssh, cluster: clusterProblems(input) };
}

function clusterProblems(input: SwitchOnInput): string[] {
  const { facts } = input;
  if (facts.corosyncConf === undefined) return [];
  let conf;
  try {
    conf = parseCorosyncConf(facts.corosyncConf);
  } catch (error) {
    return [`${COROSYNC_CONF} could not be read as a corosync configuration (${(error as Error).message}), so whether ufw would split the cluster cannot be told; check the file on the node (\`pvecm status\`)`];
  }
  const local = new Set(facts.addresses);
  const shortName = facts.hostname.split(".")[0];
  const node = conf.nodes.find((member) => member.name === shortName || member.addresses.some((address) => local.has(address))) ?? {
    name: facts.hostname || input.nodeName,
    addresses: [],
  };
  return corosyncCutProblems({
    cluster: conf.clusterName ?? "of this node",
    node,
    rules: predictUserRules(input.existing ?? { v4: [], v6: [] }, input.rules, { ipv6: input.ipv6 ?? true }),
    incoming: input.defaults.incoming,
    peers: conf.nodes.filter((member) => member !== node),
  }).map((problem) => `${problem} (members as listed in the node's ${COROSYNC_CONF})`);
}

export interface RuleChangeInput {
  /** ufw's state on the node now. */
  state: UfwFileState;
  /** The rules ufw will hold after the change (a rule deleted, or its action changed). */
  after: { v4: readonly UfwTuple[]; v6: readonly UfwTuple[] };
  /** The incoming policy after the change, when the change sets it (ufw's defaults); else the node's. */
  incomingAfter?: UfwFileState["defaults"]["incoming"];
  facts: SwitchOnFacts;
  /** The port this program connects to, when $SSH_CONNECTION does not tell the one the node sees. */
  sshPort: number;
  nodeName: string;
}

/**
 * Why changing the stored rules or the incoming policy of a node where ufw is on would cut this
 * program's SSH connection (`ssh`) or split the node's cluster (`cluster`): a stricter policy on a
 * running ufw is a switch-on of its own. Only what the change itself makes worse counts:
 * a connection that ufw already refuses, or that a rule ufw's files cannot settle (an application
 * profile, an interface) may still let in, is left to the operator: a destroy putting back a
 * node's own rules is not refused for a rule of the node's that this program cannot judge.
 */
export function ruleChangeProblems(input: RuleChangeInput): { ssh: string[]; cluster: string[] } {
  const { state, facts } = input;
  const incomingAfter = input.incomingAfter ?? state.defaults.incoming;
  if (!filtersIncoming(state) && !filtersIncoming(state, incomingAfter)) return { ssh: [], cluster: [] };
  const now = storedTuples(state);
  const judge = (existing: RuleChangeInput["after"], incoming: typeof incomingAfter) =>
    switchOnProblems({ defaults: { incoming }, rules: [], activation: { enabled: true }, sshPort: input.sshPort, existing, ipv6: state.ipv6, facts, nodeName: input.nodeName });
  const [before, after] = [judge(now, state.defaults.incoming), judge(input.after, incomingAfter)];
  const added = (was: string[], will: string[]) => will.filter((problem) => !was.includes(problem));
  return { ssh: facts.sshSource ? sshCutBy(input, now, incomingAfter, facts.sshSource) : added(before.ssh, after.ssh), cluster: added(before.cluster, after.cluster) };
}

/** The connection $SSH_CONNECTION names, let in now and surely refused after the change: why. */
function sshCutBy(input: RuleChangeInput, now: RuleChangeInput["after"], incomingAfter: UfwFileState["defaults"]["incoming"], source: NonNullable<SwitchOnFacts["sshSource"]>): string[] {
  const family = addressFamilyOf(source.client);
  if (!family || (family === "v6" && !input.state.ipv6)) return [];
  const port = source.serverPort ?? input.sshPort;
  const packet = { source: source.client, destination: source.server, protocol: "tcp" as const, port };
  const later = incomingVerdict(input.after[family], incomingAfter, packet);
  if (!incomingVerdict(now[family], input.state.defaults.incoming, packet).allowed || later.allowed || later.uncertain) return [];
  return [
    `this program's SSH connection comes from ${source.client} (as the host sees it, connected to ${source.server} port ${port}), and after this change ${later.reason}: this program's SSH connection would be cut off`,
  ];
}
