import * as pulumi from "@pulumi/pulumi";
import { reloadTrigger } from "../fail2ban/logic";
import { Fail2banDefaultsResource, Fail2banFilterResource, Fail2banJailResource, Fail2banReloadResource } from "../fail2ban/resource";
import { PackagesResource } from "../packages/resource";
import { PreflightResource } from "../preflight/resource";
import { ClusterFirewallResource } from "../proxmox/resource";
import { HostConnection, hostConnectionSchema } from "../ssh/schema";
import { addressFamilyOf } from "../ufw/address";
import { sshRestrictedTo } from "../ufw/logic";
import { UfwActivationResource, UfwBaselineResource, UfwDefaultsResource, UfwRuleResource } from "../ufw/resource";
import { allRules, HostEntry, ProgramConfig } from "./schema";
import { hostComponentType, legacyRuleName, ruleNames } from "./names";

// With `pulumi up --continue-on-error` a resource that failed rejects its URN and outputs in the
// program, and a dependent waiting for them would crash the program. The engine itself skips
// every dependent of a failed resource, so a dependent only has to be able to register.

/** An output of a resource that may have failed: its value, or `fallback` (which never reaches a host). */
function orIfFailed<T>(output: pulumi.Output<T>, fallback: T): pulumi.Output<T> {
  return pulumi.recover(output, () => fallback);
}

/**
 * A dependency on a resource that may have failed: the resource, or a stand-in with its URN
 * (computed, under `parentUrn`), which still tells the engine to skip the dependent.
 */
function dependencyOn(resource: pulumi.Resource, parentUrn?: pulumi.Output<string>): pulumi.Output<pulumi.Resource> {
  return pulumi.recover(
    resource.urn.apply(() => resource),
    () => pulumi.createUrn(pulumi.resourceName(resource), pulumi.resourceType(resource), parentUrn).apply((urn) => new pulumi.DependencyResource(urn)),
  );
}

export interface HardenedHostArgs {
  host: HostEntry;
  config: ProgramConfig;
  /** Set on the one host per cluster that manages the cluster-wide firewall option. */
  managesCluster?: string;
  /**
   * The preflights this host's changes wait for: its own (hostPreflight), and for the
   * cluster-wide firewall option, which holds for every node of the cluster, every member's.
   */
  preflights: { host: PreflightResource; cluster: pulumi.Resource[] };
}

/** The entry's connection fields (the connection schema's keys), without its cluster settings. */
export function connectionOf(host: HostEntry): HostConnection {
  return Object.fromEntries(Object.keys(hostConnectionSchema.shape).map((key) => [key, host[key as keyof HostConnection]])) as HostConnection;
}

/** The Debian packages the hardening uses: python3-systemd only for jails that may read the journal. */
function neededPackages(config: ProgramConfig): string[] {
  const needsJournal = config.fail2ban.jails.some((jail) => jail.backend === "auto" || jail.backend === "systemd");
  return ["ufw", "fail2ban", ...(needsJournal ? ["python3-systemd"] : [])];
}

/**
 * The host's read-only check of everything a later step could refuse on, before the first
 * change on it (a top-level resource, so that another host's cluster firewall option can wait
 * for it too).
 */
export function hostPreflight(host: HostEntry, config: ProgramConfig): PreflightResource {
  return new PreflightResource(`${host.name}-preflight`, {
    connection: connectionOf(host),
    packages: { needed: neededPackages(config), install: config.packages.install },
    ufw: {
      enabled: config.ufw.enabled,
      routed: config.ufw.defaults.routed,
      allowForwardDeny: config.ufw.defaults.allowForwardDeny,
      incoming: config.ufw.defaults.incoming,
      sshPort: host.port,
      rules: allRules(config.ufw).map((entry) => entry.rule),
    },
    jails: config.fail2ban.jails,
  });
}

/**
 * One host's hardening, in a safe order, after its preflight: packages; the Proxmox firewall off;
 * allow rules before the deny policy, and both before ufw is switched on;
 * fail2ban filters, then the defaults and jails that use them, then one
 * reload that checks every jail runs.
 */
export class HardenedHost extends pulumi.ComponentResource {
  readonly summary: pulumi.Output<unknown>;

  constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(hostComponentType, name, {}, opts);
    const { host, config } = args;
    const connection = connectionOf(host);
    const child = { parent: this };
    // This component's URN as a plain string (its own Output would depend on all its children).
    const ownUrn = pulumi.createUrn(name, hostComponentType);
    const topLevel = new Set<pulumi.Resource>([args.preflights.host, ...args.preflights.cluster]);
    const after = (resources: pulumi.Resource[]) => resources.map((resource) => dependencyOn(resource, topLevel.has(resource) ? undefined : ownUrn));
    const prefix = host.name;

    // Every change waits for the preflight: packages first, everything else after them.
    const packages = config.packages.install
      ? new PackagesResource(`${prefix}-packages`, { connection, packages: neededPackages(config), removeOnDestroy: config.packages.removeOnDestroy }, { ...child, dependsOn: after([args.preflights.host]) })
      : undefined;
    const packagesOrPreflight = [packages ?? args.preflights.host];
    const afterPackages = { ...child, dependsOn: after(packagesOrPreflight) };

    const clusterFirewall = args.managesCluster
      ? new ClusterFirewallResource(`${args.managesCluster}-cluster-firewall`, { connection, cluster: args.managesCluster, options: config.proxmoxFirewall }, { ...child, dependsOn: after(args.preflights.cluster) })
      : undefined;

    // ufw: every rule first, one after the other (ufw evaluates rules in the
    // order they were added, so creation order is rule order), then the
    // default policies, then activation.
    const baseline = new UfwBaselineResource(`${prefix}-ufw-baseline`, { connection }, { ...child, dependsOn: after([...packagesOrPreflight, ...(clusterFirewall ? [clusterFirewall] : [])]) });
    const rules: pulumi.Resource[] = [];
    const planned = allRules(config.ufw).map((entry) => entry.rule);
    ruleNames(planned).forEach((name, i) => {
      const previousRule = rules.length > 0 ? [rules[rules.length - 1]] : [baseline];
      const legacy = legacyRuleName(planned[i]);
      const aliases = legacy && legacy !== name ? { aliases: [{ name: `${prefix}-ufw-${legacy}` }] } : {};
      rules.push(new UfwRuleResource(`${prefix}-ufw-${name}`, { connection, rule: planned[i] }, { ...child, ...aliases, dependsOn: after(previousRule) }));
    });
    const sshFamily = addressFamilyOf(host.address);
    const sshSources = sshRestrictedTo({ defaults: config.ufw.defaults, rules: planned, activation: config.ufw, sshPort: host.port });
    const sshRestricted = sshSources.length > 0;
    const defaults = new UfwDefaultsResource(`${prefix}-ufw-defaults`, { connection, defaults: config.ufw.defaults }, { ...child, dependsOn: after([baseline, ...rules]) });
    const activation = new UfwActivationResource(
      `${prefix}-ufw-activation`,
      {
        connection,
        enabled: config.ufw.enabled,
        guard: {
          sshPort: host.port,
          // Only needed to judge SSH restricted to sources (one family's rules); left out
          // otherwise, so stacks deployed before keep the inputs they have.
          ...(sshRestricted && sshFamily ? { sshAddressFamily: sshFamily } : {}),
          incoming: config.ufw.defaults.incoming,
          allowForwardDeny: config.ufw.defaults.allowForwardDeny,
          rules: planned,
        },
      },
      { ...child, dependsOn: after([defaults, ...rules]) },
    );

    if (sshRestricted) {
      pulumi.log.info(
        `${host.name}: SSH (tcp port ${host.port}) will be allowed only from ${sshSources.join(", ")}; before the first change on the host, the program checks there that its own connection comes from inside, and refuses otherwise`,
        activation,
      );
    }

    // fail2ban: filters, then defaults and jails, then one reload (which, deleted
    // first on destroy, puts every file back and reloads once for all).
    const filters = config.fail2ban.filters.map((filter) => new Fail2banFilterResource(`${prefix}-fail2ban-filter-${filter.name}`, { connection, filter }, afterPackages));
    const f2bDefaults = new Fail2banDefaultsResource(`${prefix}-fail2ban-defaults`, { connection, defaults: config.fail2ban.defaults }, afterPackages);
    const jails = config.fail2ban.jails.map(
      (jail) => new Fail2banJailResource(`${prefix}-fail2ban-jail-${jail.name}`, { connection, jail }, { ...child, dependsOn: after([...packagesOrPreflight, ...filters, f2bDefaults]) }),
    );
    const fail2banFiles = [...filters, f2bDefaults, ...jails];
    const reload = new Fail2banReloadResource(
      `${prefix}-fail2ban-reload`,
      {
        connection,
        configuration: reloadTrigger(config.fail2ban, fail2banFiles.length),
        jails: config.fail2ban.jails.filter((jail) => jail.enabled).map((jail) => jail.name),
        restoreOnDestroy: pulumi.all(fail2banFiles.map((resource) => orIfFailed(resource.previous, undefined))).apply((snapshots) => JSON.stringify(snapshots)),
        observed: orIfFailed(args.preflights.host.observed, undefined).apply((observed) => JSON.stringify({ failedBefore: observed?.fail2banTestErrors ?? [] })),
      },
      { ...child, dependsOn: after(fail2banFiles) },
    );

    this.summary = pulumi.all([orIfFailed(activation.id, undefined), orIfFailed(reload.id, undefined)]).apply(([activated, reloaded]) => ({
      applied: activated !== undefined && reloaded !== undefined ? true : "not completely: see the errors of this run",
      address: host.address,
      ufw: { enabled: config.ufw.enabled, incoming: config.ufw.defaults.incoming, outgoing: config.ufw.defaults.outgoing, rules: rules.length },
      fail2ban: { jails: config.fail2ban.jails.filter((jail) => jail.enabled).map((jail) => jail.name) },
      proxmoxFirewall: args.managesCluster ? { cluster: args.managesCluster, enable: config.proxmoxFirewall.enable } : "managed through another node of the cluster",
    }));
    this.registerOutputs({ summary: this.summary });
  }
}
