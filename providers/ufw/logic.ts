// The functional core for UFW: pure functions from validated inputs and parsed
// host state to ufw argv lists, guard verdicts and what identifies a rule. No I/O.
import { AddressFamily, addressFamilyOf, isAnywhere, networkContains } from "./address";
import { ClusterNetwork, UfwDefaults, UfwPolicy, UfwRule } from "./schema";
import type { UfwPolicies, UfwStoredLogLevel } from "./state";
import { UfwTuple, predictUserRules } from "./tuples";

// One import point for the provider.
export * from "./tuples";
export * from "./state";

// ------------------------------------------------------------------ commands

/** The match part, always in ufw's full syntax so no short-form guessing applies. */
function ruleMatchArgs(rule: UfwRule): string[] {
  const args: string[] = [rule.action, rule.direction];
  // "in on IFACE" / "out on IFACE": the interface belongs to the direction.
  if (rule.interface) args.push("on", rule.interface);
  args.push("proto", rule.protocol, "from", rule.from, "to", rule.to);
  if (rule.port) args.push("port", rule.port);
  return args;
}

/**
 * argv for `ufw` that adds the rule. If a rule with the same match exists,
 * ufw updates its action and comment in place instead ("Rule updated"), or
 * prints "Skipping adding existing rule" when nothing differs; exit code 0 either way.
 */
export function ruleToArgs(rule: UfwRule): string[] {
  return [...ruleMatchArgs(rule), ...(rule.comment ? ["comment", rule.comment] : [])];
}

/**
 * argv for `ufw` that deletes the rule. The comment is left out on purpose:
 * ufw then deletes the rule whatever its comment, whereas a delete naming a
 * different comment matches nothing (and still exits 0).
 */
export function ruleToDeleteArgs(rule: UfwRule): string[] {
  return ["delete", ...ruleMatchArgs(rule)];
}

/** argv that turns ufw on or off. --force skips the "may disrupt existing ssh connections" prompt. */
export function activationArgs(enabled: boolean): string[] {
  return enabled ? ["--force", "enable"] : ["disable"];
}

/** Whether the stored log level satisfies the wanted one ("on" is any level but off; left out is anything). */
export function loggingSatisfied(wanted: UfwDefaults["logging"], stored: UfwStoredLogLevel | undefined): boolean {
  if (wanted === undefined) return true;
  if (wanted === "on") return stored !== undefined && stored !== "off";
  return wanted === stored;
}

/**
 * argv lists that bring the host's defaults and logging to the wanted ones,
 * empty when nothing differs. Fields left out of `wanted` are not touched.
 * Note: while ufw is active every `ufw default` reloads the whole firewall.
 */
export function defaultsArgs(
  wanted: UfwDefaults,
  current: { defaults: UfwPolicies; logging: UfwStoredLogLevel | undefined },
): string[][] {
  const commands: string[][] = [];
  const directions = [
    ["incoming", wanted.incoming],
    ["outgoing", wanted.outgoing],
    ["routed", wanted.routed],
  ] as const;
  for (const [direction, policy] of directions) {
    if (policy !== undefined && policy !== current.defaults[direction]) commands.push(["default", policy, direction]);
  }
  if (wanted.logging !== undefined && !loggingSatisfied(wanted.logging, current.logging)) commands.push(["logging", wanted.logging]);
  return commands;
}

// ------------------------------------------------------------------ lockout guard

const FAMILY_NAME: Record<AddressFamily, string> = { v4: "IPv4", v6: "IPv6" };

/** Readable form of a stored rule, in ufw's own syntax. */
export function describeTuple(tuple: UfwTuple): string {
  const parts: string[] = [tuple.route ? `route ${tuple.action}` : tuple.action, tuple.direction];
  const iface = tuple.interfaceIn || tuple.interfaceOut;
  if (iface) parts.push("on", iface);
  parts.push("proto", tuple.protocol, "from", isAnywhere(tuple.src) ? "any" : tuple.src);
  if (tuple.sport !== "any") parts.push("port", tuple.sport);
  parts.push("to", isAnywhere(tuple.dst) ? "any" : tuple.dst);
  if (tuple.dport !== "any") parts.push("port", tuple.dport);
  if (tuple.comment) parts.push(`(comment "${tuple.comment}")`);
  return parts.join(" ");
}

/** Whether a stored port spec ("any", "22", "22:25,80") includes the port. */
export function portSpecCovers(spec: string, port: number): boolean {
  if (spec === "any") return true;
  return spec.split(",").some((entry) => {
    const [low, high = low] = entry.split(":").map(Number);
    return port >= low && port <= high;
  });
}

export interface LockoutInput {
  defaults: Pick<UfwDefaults, "incoming">;
  /** The program's rules, in the order they will be added. */
  rules: readonly UfwRule[];
  activation: { enabled: boolean };
  sshPort: number;
  /** Family of the address the program connects to; left out, every family ufw filters must stay open. */
  sshAddressFamily?: AddressFamily;
  /**
   * The connection as the host sees it ($SSH_CONNECTION): known on the host,
   * just before activation; then the rules are judged for exactly that source.
   */
  sshSource?: { client: string; server: string };
  /**
   * Rules already stored on the host (file order), minus those about to be
   * deleted. They come first: ufw appends new rules, and a rule whose match is
   * stored keeps its place.
   */
  existing?: { v4: readonly UfwTuple[]; v6: readonly UfwTuple[] };
  /** IPV6= from /etc/default/ufw; defaults to yes as Debian ships it. */
  ipv6?: boolean;
}

type SshDecision =
  | { kind: "open" }
  | { kind: "restricted"; sources: string[] }
  | { kind: "blocked"; index: number; tuple: UfwTuple }
  | { kind: "none" };

/**
 * How one family's rules treat SSH from an unknown source: the first rule for
 * the SSH port from anywhere decides (open, or blocked by a deny); an allow
 * restricted to sources before it keeps SSH open for those sources only.
 * Rules on an interface, to one address, or from a source port are ignored.
 */
function sshDecision(tuples: readonly UfwTuple[], sshPort: number): SshDecision {
  const sources: string[] = [];
  for (const [index, tuple] of tuples.entries()) {
    const matchesSsh = !tuple.route && tuple.direction === "in" && (tuple.protocol === "tcp" || tuple.protocol === "any") && portSpecCovers(tuple.dport, sshPort);
    if (!matchesSsh || !isAnywhere(tuple.dst) || tuple.sport !== "any" || tuple.interfaceIn) continue;
    const allows = tuple.action === "allow" || tuple.action === "limit";
    if (!isAnywhere(tuple.src)) {
      if (allows) sources.push(tuple.src);
      continue;
    }
    return allows ? { kind: "open" } : { kind: "blocked", index, tuple };
  }
  return sources.length > 0 ? { kind: "restricted", sources } : { kind: "none" };
}

/** The source networks SSH stays open for, when rules restrict it to them; empty when it is open to all (or closed). */
export function sshRestrictedTo(input: LockoutInput): string[] {
  if (!input.activation.enabled || input.defaults.incoming === "allow") return [];
  const planned = predictUserRules(input.existing ?? { v4: [], v6: [] }, input.rules, { ipv6: input.ipv6 ?? true });
  return (["v4", "v6"] as const).flatMap((family) => {
    const decision = sshDecision(planned[family], input.sshPort);
    return decision.kind === "restricted" ? decision.sources : [];
  });
}

/**
 * Problems that would cut off this program's own SSH connection once ufw is
 * active; empty when it stays reachable. Rules are evaluated first-match per
 * IP family, like ufw. With the connection's source known (on the host) the
 * verdict is for that source; before (at preview) an allow restricted to some
 * sources is accepted, to be judged on the host. Note that a limit rule
 * refuses a source that opens 6+ connections in 30 seconds, which a program
 * opening many SSH sessions can hit.
 */
export function lockoutProblems(input: LockoutInput): string[] {
  if (!input.activation.enabled) return [];
  const ipv6 = input.ipv6 ?? true;
  const planned = predictUserRules(input.existing ?? { v4: [], v6: [] }, input.rules, { ipv6 });
  const ipv6Off =
    "the program reaches the host over IPv6, but /etc/default/ufw has IPV6=no, so an active ufw drops all IPv6 traffic except loopback; set IPV6=yes on the host or connect over IPv4";
  if (input.sshSource) {
    const family = addressFamilyOf(input.sshSource.client);
    if (family === "v6" && !ipv6) return [ipv6Off];
    if (!family) return [`the host reports this program's SSH connection as coming from ${JSON.stringify(input.sshSource.client)}, which is not an IP address, so whether ufw keeps it open cannot be told`];
    const packet = { source: input.sshSource.client, destination: input.sshSource.server, protocol: "tcp" as const, port: input.sshPort };
    const verdict = incomingVerdict(planned[family], input.defaults.incoming, packet);
    if (verdict.allowed) return [];
    return [
      `this program's SSH connection comes from ${input.sshSource.client} (as the host sees it, connected to ${input.sshSource.server} port ${input.sshPort}), and for that source ${verdict.reason}: this program's SSH connection would be cut off. Allow tcp port ${input.sshPort} from a network that contains ${input.sshSource.client}, or run the program from inside the network SSH is allowed from`,
    ];
  }
  const families: AddressFamily[] = input.sshAddressFamily ? [input.sshAddressFamily] : ipv6 ? ["v4", "v6"] : ["v4"];
  const problems: string[] = [];
  for (const family of families) {
    const name = FAMILY_NAME[family];
    if (family === "v6" && !ipv6) {
      problems.push(ipv6Off);
      continue;
    }
    const decision = sshDecision(planned[family], input.sshPort);
    if (decision.kind === "blocked") {
      const { index, tuple } = decision;
      problems.push(
        `${name} rule ${index + 1} (${describeTuple(tuple)}) would ${tuple.action} SSH on tcp port ${input.sshPort} from anywhere, and ufw applies the first matching rule, so no later allow helps: this program would lock itself out. Remove that rule, narrow its source, or put an allow for port ${input.sshPort} before it`,
      );
    } else if (decision.kind === "none" && input.defaults.incoming !== "allow") {
      problems.push(
        `ufw would be active with incoming policy "${input.defaults.incoming}" and no ${name} rule allowing tcp port ${input.sshPort}: this program's SSH connection would be cut off. Add a rule { action: "allow" (or "limit"), protocol: "tcp", port: ${input.sshPort} } from anywhere or from the network this program connects from, or fix the lockout guard's sshPort/sshAddressFamily if the program connects differently`,
      );
    }
  }
  return problems;
}

// ------------------------------------------------------------------ traffic verdicts

/** One incoming packet: from a source address to a port of this host (a destination address when known). */
export interface IncomingPacket {
  source: string;
  /** The host's address the packet is sent to; undefined matches only rules "to any". */
  destination?: string;
  protocol: "tcp" | "udp";
  port: number;
}

/** `uncertain`: a rule that may or may not match came first, so ufw might let the packet in. */
export type Verdict = { allowed: true } | { allowed: false; reason: string; uncertain?: true };

/**
 * What ufw would do with the packet: the first matching rule decides, else the
 * incoming policy. A rule the packet may or may not match (an interface, a
 * source port or an application profile, which a packet description cannot
 * settle) never counts as allowing, and counts as blocking if it denies:
 * the caller must never conclude "reachable" when it might not be.
 */
export function incomingVerdict(tuples: readonly UfwTuple[], policy: UfwPolicy, packet: IncomingPacket): Verdict {
  let uncertain = false;
  const blocked = (reason: string): Verdict => (uncertain ? { allowed: false, reason, uncertain } : { allowed: false, reason });
  for (const [index, tuple] of tuples.entries()) {
    if (tuple.route || tuple.direction !== "in") continue;
    if (tuple.protocol !== "any" && tuple.protocol !== packet.protocol) continue;
    if (!portSpecCovers(tuple.dport, packet.port)) continue;
    if (!networkContains(tuple.src, packet.source)) continue;
    const toAny = isAnywhere(tuple.dst);
    if (!toAny && packet.destination !== undefined && !networkContains(tuple.dst, packet.destination)) continue;
    const certain = (toAny || packet.destination !== undefined) && tuple.sport === "any" && !tuple.interfaceIn && !tuple.dapp && !tuple.sapp;
    const blocks = tuple.action === "deny" || tuple.action === "reject";
    const verb = certain ? (tuple.action === "deny" ? "denies" : "rejects") : `may ${tuple.action}`;
    uncertain ||= !certain;
    if (blocks) return blocked(`rule ${index + 1} (${describeTuple(tuple)}) ${verb} it first`);
    if (certain) return { allowed: true };
  }
  return policy === "allow" ? { allowed: true } : blocked(`no rule allows it and the incoming policy is "${policy}"`);
}

// ------------------------------------------------------------------ cluster guard

/** Corosync's UDP ports (knet, one per link): Proxmox VE's documented 5405-5412. */
export const COROSYNC_PORTS = { low: 5405, high: 5412 } as const;

export interface ClusterMember {
  name: string;
  /** Corosync link addresses (IP literals); names that are not IPs are reported, never assumed reachable. */
  addresses: readonly string[];
}

export interface ClusterGuardInput {
  cluster: string;
  /** The node whose firewall is judged, and its rules (file order), per family, as they will be stored. */
  node: ClusterMember;
  rules: { v4: readonly UfwTuple[]; v6: readonly UfwTuple[] };
  incoming: UfwPolicy;
  /** Every other member of the cluster. */
  peers: readonly ClusterMember[];
}

/**
 * Corosync paths from each peer to this node that an active ufw would cut:
 * every port of 5405-5412/udp, from every peer link address, to this node's
 * link address of the same family. Empty when the cluster keeps talking.
 */
export function corosyncCutProblems(input: ClusterGuardInput): string[] {
  const problems: string[] = [];
  const cutPeers = new Set<string>();
  const ports = `${COROSYNC_PORTS.low}-${COROSYNC_PORTS.high}/udp`;
  for (const peer of input.peers) {
    for (const source of peer.addresses) {
      const family = addressFamilyOf(source);
      if (!family) {
        problems.push(`member ${peer.name}'s corosync address ${JSON.stringify(source)} is not an IP address, so whether ufw lets it through cannot be told`);
        cutPeers.add(peer.name);
        continue;
      }
      const destinations = input.node.addresses.filter((address) => addressFamilyOf(address) === family);
      const verdicts = (destinations.length > 0 ? destinations : [undefined]).flatMap((destination) => {
        for (let port = COROSYNC_PORTS.low; port <= COROSYNC_PORTS.high; port++) {
          const verdict = incomingVerdict(input.rules[family], input.incoming, { source, destination, protocol: "udp", port });
          if (!verdict.allowed) return [`port ${port}: ${verdict.reason}`];
        }
        return [];
      });
      if (verdicts.length > 0) {
        problems.push(`${ports} from ${peer.name} (${source}) would be cut (${verdicts[0]})`);
        cutPeers.add(peer.name);
      }
    }
  }
  if (problems.length === 0) return [];
  const peerNames = [...cutPeers].join(", ");
  return [
    `ufw on ${input.node.name} would split cluster ${input.cluster} (members ${[input.node.name, ...input.peers.map((peer) => peer.name)].join(", ")}): ${problems.join("; ")}. ` +
      `Without corosync between them the nodes lose quorum, /etc/pve turns read-only and HA fences nodes. ` +
      `Allow corosync from ${peerNames}: ufw.clusterTraffic: { network: "<the corosync network>" }, or a rule { action: "allow", protocol: "udp", port: "${COROSYNC_PORTS.low}:${COROSYNC_PORTS.high}", from: "<network>" } before any deny`,
  ];
}

// ------------------------------------------------------------------ guests' network

/**
 * The routed policy to set on a host. Left out of the config: allow wherever bridged guests'
 * traffic passes the FORWARD chain (bridge netfilter on) or may come to (unreadable until
 * br_netfilter is loaded), so that ufw cannot cut them off; where bridge netfilter is off the
 * host keeps its own policy, as 0.1.0 left it (a stack it deployed must not change on upgrade).
 */
export function routedPolicyFor(routed: UfwPolicy | undefined, bridgeNfCallIptables: boolean | undefined): UfwPolicy | undefined {
  return routed ?? (bridgeNfCallIptables === false ? undefined : "allow");
}

export interface ForwardPolicyInput {
  /** The routed policy that will be in force: the wanted one, or the host's when not managed. */
  routed: UfwPolicy;
  /** net.bridge.bridge-nf-call-iptables; undefined when unreadable (br_netfilter not loaded). */
  bridgeNfCallIptables: boolean | undefined;
  allowForwardDeny: boolean;
}

/**
 * Refuses a routed deny/reject while bridge netfilter is on or unknown: with
 * it, bridged guest frames traverse iptables' FORWARD chain, whose policy ufw
 * sets from the routed default, so every VM's new connections would be dropped.
 */
export function forwardPolicyProblem(input: ForwardPolicyInput): string | undefined {
  if (input.routed === "allow" || input.allowForwardDeny || input.bridgeNfCallIptables === false) return undefined;
  const consequence =
    "bridged guest traffic passes iptables' FORWARD chain, so every VM's and container's new connections would be dropped";
  const fix = `Set routed to "allow", or set allowForwardDeny: true if cutting guest traffic (or routing it through explicit ufw route rules) is intended`;
  if (input.bridgeNfCallIptables) {
    return `routed policy "${input.routed}" with bridge netfilter on (net.bridge.bridge-nf-call-iptables = 1): ${consequence}. ${fix}`;
  }
  return `routed policy "${input.routed}" while bridge netfilter is unknown (net.bridge.bridge-nf-call-iptables is unreadable, br_netfilter is not loaded): the Proxmox firewall loads it as soon as a guest NIC has firewall=1, and then ${consequence}. ${fix}`;
}

// ------------------------------------------------------------------ Proxmox cluster preset

/**
 * The allow rules a Proxmox cluster needs between its nodes: corosync
 * (5405-5412/udp), live migration (60000-60050/tcp), VNC consoles
 * (5900-5999/tcp) and the SPICE proxy (3128/tcp), all from the cluster network.
 * Throws when clusterNetwork is not an address or network ("any" included).
 */
export function clusterTrafficRules(clusterNetwork: string): UfwRule[] {
  const network = ClusterNetwork.safeParse(clusterNetwork);
  if (!network.success) {
    throw new Error(`clusterNetwork ${JSON.stringify(clusterNetwork)}: ${network.error.issues.map((issue) => issue.message).join("; ")}`);
  }
  const rule = (protocol: "tcp" | "udp", port: string, comment: string): UfwRule =>
    UfwRule.parse({ action: "allow", direction: "in", protocol, port, from: network.data, to: "any", comment });
  return [
    rule("udp", "5405:5412", "proxmox corosync"),
    rule("tcp", "60000:60050", "proxmox live migration"),
    rule("tcp", "5900:5999", "proxmox vnc console"),
    rule("tcp", "3128", "proxmox spice proxy"),
  ];
}

// ------------------------------------------------------------------ identity

/** Fields that make up ufw's identity of a rule: changing one means a different rule (delete + add). */
export const UFW_RULE_REPLACE_KEYS = ["direction", "protocol", "port", "from", "to", "interface"] as const;
