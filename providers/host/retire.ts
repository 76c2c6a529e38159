import { z } from "zod";
import { typeTokenOf } from "../core/shim";
import { preflightKind } from "../preflight/kinds";
import { clusterFirewallKind } from "../proxmox/kinds";
import { HostConnection, hostConnectionSchema } from "../ssh/schema";
import { ProbeOutcome } from "../ssh/probe";
import { hostComponentType } from "./names";
import { clusterManagers, hostEntrySchema } from "./schema";

// Retiring a node that is gone for good (or was reinstalled): which of the
// stack's resources leave the state, in which order, and what the operator
// does next. Pure: scripts/retire.ts reads the state and config, probes the
// node and runs one `pulumi state delete` of the plan's URNs.

/** A resource as `pulumi stack export` lists it (the fields the plan reads). */
export interface StateResource {
  urn: string;
  type: string;
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  deletedWith?: string;
  inputs?: Record<string, unknown>;
}

/** The part of a `hosts` entry the plan needs; the rest of an entry may be mid-edit. */
export const configuredHostsSchema = z.array(hostEntrySchema.pick({ name: true, cluster: true }).loose());
export type ConfiguredHost = z.output<typeof configuredHostsSchema>[number];

export interface RetirementPlan {
  host: string;
  /** How the state reaches the node (address, port, pinned key): what the probe uses. */
  connection: HostConnection;
  /** URNs to delete from the state, each before anything it depends on. */
  remove: string[];
  /**
   * The cluster firewall option the node managed, kept in state because another host of the
   * same cluster is configured: the next `up` moves it to that host as an update (the option
   * lives in the cluster's shared /etc/pve), keeping what the cluster had before the first up.
   */
  handOver?: { urn: string; cluster: string; members: string[] };
}

const nameOfUrn = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** Everything a resource refers to: a resource can leave the state only after those referring to it. */
function referencesOf(resource: StateResource): string[] {
  return [
    ...(resource.parent ? [resource.parent] : []),
    ...(resource.dependencies ?? []),
    ...Object.values(resource.propertyDependencies ?? {}).flat(),
    ...(resource.deletedWith ? [resource.deletedWith] : []),
  ];
}

export function planRetirement(resources: readonly StateResource[], host: string, configured: readonly ConfiguredHost[]): RetirementPlan {
  const components = resources.filter((resource) => resource.type === hostComponentType);
  const component = components.find((resource) => nameOfUrn(resource.urn) === host);
  if (!component) {
    const known = components.map((resource) => nameOfUrn(resource.urn));
    throw new Error(`host ${host} is not in the stack's state (hosts there: ${known.join(", ") || "none"}); nothing to retire`);
  }
  const children = resources.filter((resource) => resource.parent === component.urn);
  const withConnection = children.find((resource) => resource.inputs?.connection !== undefined);
  if (!withConnection) throw new Error(`host ${host} has no resource with a connection in the state; remove its component with \`pulumi state delete '${component.urn}'\``);
  const connection = hostConnectionSchema.parse(withConnection.inputs!.connection);

  const firewall = children.find((resource) => resource.type === typeTokenOf(clusterFirewallKind.name));
  const cluster = typeof firewall?.inputs?.cluster === "string" ? firewall.inputs.cluster : undefined;
  const members = configured.filter((entry) => entry.name !== host && (entry.cluster ?? entry.name) === cluster).map((entry) => entry.name);
  const handOver = firewall && cluster && members.length > 0 ? { urn: firewall.urn, cluster, members } : undefined;

  // The host's preflight is top-level (every member's changes of the cluster option wait for it).
  // The kept firewall still names the component as its parent and waits for the preflight until the
  // next up re-parents it; then both leave the state there, and neither's delete touches a node.
  const preflight = resources.find((resource) => resource.type === typeTokenOf(preflightKind.name) && (resource.inputs?.connection as { name?: unknown } | undefined)?.name === host);
  const leaving = new Set([...children.map((resource) => resource.urn), ...(handOver ? [] : [component.urn, ...(preflight ? [preflight.urn] : [])])]);
  if (handOver) leaving.delete(handOver.urn);
  for (const resource of resources) {
    if (leaving.has(resource.urn)) continue;
    const held = referencesOf(resource).filter((urn) => leaving.has(urn));
    if (held.length > 0) throw new Error(`${resource.urn} depends on ${held.join(", ")} of host ${host}; retire it first or remove that dependency`);
  }
  // The state lists every resource after what it refers to, so the reverse is a safe delete order.
  const remove = resources.filter((resource) => leaving.has(resource.urn)).map((resource) => resource.urn).reverse();
  return { host, connection, remove, handOver };
}

export type RetireVerdict = { proceed: false; message: string } | { proceed: true; finding: string };

/** Whether the probe allows retiring: a node that answers with its pinned key is still that node. */
export function judgeProbe(plan: RetirementPlan, outcome: ProbeOutcome): RetireVerdict {
  const where = `${plan.connection.address}:${plan.connection.port}`;
  switch (outcome.kind) {
    case "same":
      return {
        proceed: false,
        message:
          `host ${plan.host} answers at ${where} with its pinned key ${outcome.fingerprint}: it is not gone, so it is not retired (the state is unchanged). ` +
          `To take it out of the stack, remove it from \`hosts\` and run \`pulumi up\`: that rolls the node back like \`destroy\` would.`,
      };
    case "other-key":
      return { proceed: true, finding: `${where} presented another host key (${outcome.fingerprint}): a reinstalled node, or someone in the middle (nothing was sent to it)` };
    case "no-answer":
      return { proceed: true, finding: `no SSH answer from ${where}: ${outcome.reason}` };
  }
}

/** What the operator does after the resources left the state, with the exact commands. */
export function nextSteps(plan: RetirementPlan, outcome: ProbeOutcome, configured: readonly ConfiguredHost[], stack: string): string[] {
  const index = configured.findIndex((entry) => entry.name === plan.host);
  const steps: string[] = [];
  if (index >= 0 && outcome.kind === "other-key") {
    steps.push(
      `${plan.host} was reinstalled: check its new key on its console (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` must print ${outcome.fingerprint}), then pin it: ` +
        `pulumi config set --path 'hosts[${index}].hostKey' '${outcome.keyLine}' -s ${stack}`,
    );
  } else if (index >= 0) {
    steps.push(`take ${plan.host} out of the config: pulumi config rm --path 'hosts[${index}]' -s ${stack}  (or delete its entry in Pulumi.${stack}.yaml)`);
  }
  steps.push(
    `pulumi up -s ${stack}  (${index >= 0 && outcome.kind === "other-key" ? `hardens the new installation of ${plan.host} from scratch` : `connects to no ${plan.host}`}; run it before any refresh)`,
  );
  if (plan.handOver) {
    const stays = outcome.kind === "other-key" ? configured : configured.filter((entry) => entry.name !== plan.host);
    const manager = clusterManagers(stays).get(plan.handOver.cluster)?.name ?? plan.handOver.members[0];
    steps.push(
      `the Proxmox firewall option of cluster ${plan.handOver.cluster} stays as it is; that up manages it through ${manager} without switching the firewall back on, and a later destroy restores what the cluster had before the first up`,
    );
  }
  return steps;
}
