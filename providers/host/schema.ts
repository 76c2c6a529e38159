import { z } from "zod";
import { Fail2banDefaults, Fail2banFilter, Fail2banJail, proxmoxFilterDefaults, referenceProxmoxJail, referenceSshdJail, STOCK_FILTERS } from "../fail2ban/schema";
import { clusterFirewallOptionsSchema } from "../proxmox/schema";
import { hostConnectionSchema } from "../ssh/schema";
import { addressFamilyOf } from "../ufw/address";
import { ClusterMember, clusterTrafficRules, corosyncCutProblems, lockoutProblems, predictUserRules, ruleToTuples, tupleIdentity } from "../ufw/logic";
import { ClusterNetwork, UfwDefaults, UfwRule } from "../ufw/schema";

// The program's stack config: which hosts, and what hardening. The defaults
// are exactly the reference procedure's values, so an empty config (just the
// hosts) hardens a host the way the procedure does.

export const hostEntrySchema = hostConnectionSchema
  .extend({
    cluster: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/i, "a cluster name: letters, digits and '-'")
      .optional()
      .describe("Proxmox cluster the host belongs to; hosts of one cluster share /etc/pve, so the cluster firewall option is set once, through the first of them. Default: the host is its own cluster."),
    corosyncAddresses: z
      .array(ClusterNetwork.refine((address) => !address.includes("/"), "an address of the node, not a network"))
      .min(1)
      .max(8)
      .optional()
      .describe(
        "The node's corosync link addresses (ring0_addr, ring1_addr... of /etc/pve/corosync.conf), for the check that ufw lets the cluster's members talk. Default: address, when it is an IP address (as `pvecm create`/`pvecm add` use).",
      ),
  })
  .describe("A host to harden, and how to reach it over SSH.");

export type HostEntry = z.output<typeof hostEntrySchema>;

/** The rules the reference procedure adds: SSH and the Proxmox web UI, from anywhere. */
export const referenceRules: z.output<typeof UfwRule>[] = [
  UfwRule.parse({ action: "allow", protocol: "tcp", port: 22, comment: "ssh" }),
  UfwRule.parse({ action: "allow", protocol: "tcp", port: 8006, comment: "proxmox web ui" }),
];

export const ufwSettingsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Switch ufw on (after the allow rules and defaults are in place)."),
    defaults: UfwDefaults.prefault({}),
    rules: z.array(UfwRule).default(referenceRules).describe("The base rules, in order. Default: allow 22/tcp (ssh) and 8006/tcp (Proxmox web UI)."),
    extraRules: z.array(UfwRule).default([]).describe("Rules added after the base rules, e.g. a monitoring port from one network."),
    clusterTraffic: z
      .strictObject({ network: ClusterNetwork })
      .optional()
      .describe("Opt-in preset for Proxmox cluster traffic from this network: corosync 5405-5412/udp, live migration 60000-60050/tcp, VNC 5900-5999/tcp, SPICE 3128/tcp."),
  })
  .describe("UFW: default policies, allow rules and activation.");

export const fail2banSettingsSchema = z
  .strictObject({
    defaults: Fail2banDefaults.prefault({}),
    filters: z.array(Fail2banFilter).default([proxmoxFilterDefaults]).describe("Filters to install. Default: the Proxmox web-UI login failure filter (proxmox)."),
    jails: z.array(Fail2banJail).default([referenceSshdJail, referenceProxmoxJail]).describe("Jails. Default: sshd, and proxmox on port 8006."),
  })
  .describe("fail2ban: the [DEFAULT] section, filters and jails.");

export const packagesSettingsSchema = z
  .strictObject({
    install: z.boolean().default(true).describe("Install ufw, fail2ban and python3-systemd when missing."),
    removeOnDestroy: z.boolean().default(true).describe("On destroy, purge the packages this program installed."),
  })
  .describe("Debian packages the hardening needs.");

export const programConfigSchema = z
  .strictObject({
    hosts: z.array(hostEntrySchema).min(1, "list at least one host to harden").describe("The hosts to harden: at least one."),
    proxmoxFirewall: clusterFirewallOptionsSchema.prefault({}),
    ufw: ufwSettingsSchema.prefault({}),
    fail2ban: fail2banSettingsSchema.prefault({}),
    packages: packagesSettingsSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const duplicates = <T>(items: readonly T[], key: (item: T) => string, path: (index: number) => (string | number)[], what: string) => {
      const seen = new Map<string, number>();
      items.forEach((item, index) => {
        const id = key(item);
        const first = seen.get(id);
        if (first === undefined) seen.set(id, index);
        else ctx.addIssue({ code: "custom", path: path(index), message: `${what} repeats entry ${first + 1}; list each once` });
      });
    };
    duplicates(config.hosts, (host) => host.name, (i) => ["hosts", i, "name"], "host name");
    duplicates(config.hosts, (host) => `${host.address}:${host.port}`, (i) => ["hosts", i, "address"], "host address and port");
    const rules = allRules(config.ufw);
    duplicates(
      rules.map((entry) => entry.rule),
      (rule) => ruleToTuples(rule).map(tupleIdentity).join("|"),
      (i) => rules[i].path,
      "this rule (same match as another rule; ufw would keep only one)",
    );
    duplicates(config.fail2ban.jails, (jail) => jail.name, (i) => ["fail2ban", "jails", i, "name"], "jail name");
    duplicates(config.fail2ban.filters, (filter) => filter.name, (i) => ["fail2ban", "filters", i, "name"], "filter name");
    const filterNames = new Set([...STOCK_FILTERS, ...config.fail2ban.filters.map((filter) => filter.name)]);
    config.fail2ban.jails.forEach((jail, i) => {
      if (!filterNames.has(jail.filter.name)) {
        ctx.addIssue({ code: "custom", path: ["fail2ban", "jails", i, "filter"], message: `filter ${jail.filter.name} is neither one of fail2ban's stock filters nor in fail2ban.filters` });
      }
    });
    // Lockout: every host, on its own SSH port, must stay reachable once ufw is on.
    config.hosts.forEach((host, i) => {
      const problems = lockoutProblems({
        defaults: config.ufw.defaults,
        rules: rules.map((entry) => entry.rule),
        activation: { enabled: config.ufw.enabled },
        sshPort: host.port,
        sshAddressFamily: addressFamilyOf(host.address),
      });
      for (const problem of problems) ctx.addIssue({ code: "custom", path: ["hosts", i, "port"], message: `host ${host.name}: ${problem}` });
    });
    // Cluster split: each member of a cluster listed here must keep receiving corosync from the others.
    if (config.ufw.enabled && config.ufw.defaults.incoming !== "allow") {
      const planned = predictUserRules({ v4: [], v6: [] }, rules.map((entry) => entry.rule));
      for (const [cluster, members] of clusterMembers(config.hosts)) {
        if (members.length < 2) continue;
        members.forEach(({ host, index }) => {
          if (corosyncAddressesOf(host).length === 0) {
            ctx.addIssue({
              code: "custom",
              path: ["hosts", index, "corosyncAddresses"],
              message: `host ${host.name} of cluster ${cluster} is reached by name (${host.address}), so its corosync addresses are unknown and the check that ufw keeps the cluster together cannot be made: set corosyncAddresses to its ring addresses from /etc/pve/corosync.conf`,
            });
            return;
          }
          const node = memberOf(host);
          const peers = members.filter((other) => other.host !== host).map((other) => memberOf(other.host)).filter((peer) => peer.addresses.length > 0);
          for (const problem of corosyncCutProblems({ cluster, node, rules: planned, incoming: config.ufw.defaults.incoming, peers })) {
            ctx.addIssue({ code: "custom", path: ["hosts", index, "cluster"], message: problem });
          }
        });
      }
    }
    // Only on a config whose parts all parsed: with an invalid part, zod still runs this
    // check on the raw, untransformed value (e.g. a jail without its default filter).
  }, { when: (payload) => payload.issues.length === 0 });

export type ProgramConfig = z.output<typeof programConfigSchema>;

/** Every ufw rule of a host in the order it is added, with where it came from in the config. */
export function allRules(ufw: z.output<typeof ufwSettingsSchema>): { rule: z.output<typeof UfwRule>; path: (string | number)[] }[] {
  return [
    ...ufw.rules.map((rule, i) => ({ rule, path: ["ufw", "rules", i] })),
    ...(ufw.clusterTraffic ? clusterTrafficRules(ufw.clusterTraffic.network).map((rule) => ({ rule, path: ["ufw", "clusterTraffic"] })) : []),
    ...ufw.extraRules.map((rule, i) => ({ rule, path: ["ufw", "extraRules", i] })),
  ];
}

/** The node's corosync link addresses as the config knows them: listed, or its IP address. */
function corosyncAddressesOf(host: HostEntry): string[] {
  return host.corosyncAddresses ?? (addressFamilyOf(host.address) ? [host.address] : []);
}

function memberOf(host: HostEntry): ClusterMember {
  return { name: host.name, addresses: corosyncAddressesOf(host) };
}

/** Hosts (with their index in the config) grouped by the cluster they name; hosts without one are left out. */
function clusterMembers(hosts: readonly HostEntry[]): Map<string, { host: HostEntry; index: number }[]> {
  const clusters = new Map<string, { host: HostEntry; index: number }[]>();
  hosts.forEach((host, index) => {
    if (host.cluster) clusters.set(host.cluster, [...(clusters.get(host.cluster) ?? []), { host, index }]);
  });
  return clusters;
}

/** Hosts grouped by Proxmox cluster; the first host of each cluster manages the cluster-wide firewall option. */
export function clusterManagers<H extends Pick<HostEntry, "name" | "cluster">>(hosts: readonly H[]): Map<string, H> {
  const managers = new Map<string, H>();
  for (const host of hosts) {
    const cluster = host.cluster ?? host.name;
    if (!managers.has(cluster)) managers.set(cluster, host);
  }
  return managers;
}
