import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { Fail2banDefaultsResource, Fail2banFilterResource, Fail2banJailResource, Fail2banReloadResource } from "../fail2ban/resource";
import { Packages } from "../packages/resource";
import { ClusterFirewall } from "../proxmox/resource";
import { HostConnection } from "../ssh/schema";
import { addressFamilyOf } from "../ufw/address";
import { sshRestrictedTo } from "../ufw/logic";
import { UfwActivationResource, UfwBaselineResource, UfwDefaultsResource, UfwRuleResource } from "../ufw/resource";
import { allRules, HostEntry, ProgramConfig } from "./schema";
import { hostComponentType, ruleName } from "./names";

export interface HardenedHostArgs {
  host: HostEntry;
  config: ProgramConfig;
  /** Set on the one host per cluster that manages the cluster-wide firewall option. */
  managesCluster?: string;
}

/**
 * One host's hardening, in a safe order: packages; the Proxmox firewall off;
 * allow rules before the deny policy, and both before ufw is switched on;
 * fail2ban filters, then the defaults and jails that use them, then one
 * reload that checks every jail runs.
 */
export class HardenedHost extends pulumi.ComponentResource {
  readonly summary: pulumi.Output<unknown>;

  constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(hostComponentType, name, {}, opts);
    const { host, config } = args;
    const connection: HostConnection = {
      name: host.name,
      address: host.address,
      port: host.port,
      user: host.user,
      hostKey: host.hostKey,
      connectTimeoutSeconds: host.connectTimeoutSeconds,
      commandTimeoutSeconds: host.commandTimeoutSeconds,
    };
    const child = { parent: this };
    const prefix = host.name;

    const needsJournal = config.fail2ban.jails.some((jail) => jail.backend === "auto" || jail.backend === "systemd");
    const packages = config.packages.install
      ? new Packages(`${prefix}-packages`, { connection, packages: ["ufw", "fail2ban", ...(needsJournal ? ["python3-systemd"] : [])], removeOnDestroy: config.packages.removeOnDestroy }, child)
      : undefined;
    const afterPackages = { ...child, dependsOn: packages ? [packages] : [] };

    const clusterFirewall = args.managesCluster
      ? new ClusterFirewall(`${args.managesCluster}-cluster-firewall`, { connection, cluster: args.managesCluster, options: config.proxmoxFirewall }, child)
      : undefined;

    // ufw: every rule first, one after the other (ufw evaluates rules in the
    // order they were added, so creation order is rule order), then the
    // default policies, then activation.
    const baseline = new UfwBaselineResource(`${prefix}-ufw-baseline`, { connection }, { ...child, dependsOn: [...afterPackages.dependsOn, ...(clusterFirewall ? [clusterFirewall] : [])] });
    const rules: pulumi.Resource[] = [];
    for (const { rule } of allRules(config.ufw)) {
      const previousRule = rules.length > 0 ? [rules[rules.length - 1]] : [baseline];
      rules.push(new UfwRuleResource(`${prefix}-ufw-${ruleName(rule)}`, { connection, rule }, { ...child, dependsOn: previousRule }));
    }
    const sshFamily = addressFamilyOf(host.address);
    const sshSources = sshRestrictedTo({ defaults: config.ufw.defaults, rules: allRules(config.ufw).map((entry) => entry.rule), activation: config.ufw, sshPort: host.port });
    const sshRestricted = sshSources.length > 0;
    const defaults = new UfwDefaultsResource(`${prefix}-ufw-defaults`, { connection, defaults: config.ufw.defaults }, { ...child, dependsOn: [baseline, ...rules] });
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
          rules: allRules(config.ufw).map((entry) => entry.rule),
        },
      },
      { ...child, dependsOn: [defaults, ...rules] },
    );

    if (sshRestricted) {
      pulumi.log.info(
        `${host.name}: SSH (tcp port ${host.port}) will be allowed only from ${sshSources.join(", ")}; before switching ufw on, the program checks on the host that its own connection comes from inside, and refuses otherwise`,
        activation,
      );
    }

    // fail2ban: filters, then defaults and jails, then one reload (which, deleted
    // first on destroy, puts every file back and reloads once for all).
    const filters = config.fail2ban.filters.map((filter) => new Fail2banFilterResource(`${prefix}-fail2ban-filter-${filter.name}`, { connection, filter }, afterPackages));
    const f2bDefaults = new Fail2banDefaultsResource(`${prefix}-fail2ban-defaults`, { connection, defaults: config.fail2ban.defaults }, afterPackages);
    const jails = config.fail2ban.jails.map(
      (jail) => new Fail2banJailResource(`${prefix}-fail2ban-jail-${jail.name}`, { connection, jail }, { ...child, dependsOn: [...afterPackages.dependsOn, ...filters, f2bDefaults] }),
    );
    const fail2banFiles = [...filters, f2bDefaults, ...jails];
    const reload = new Fail2banReloadResource(
      `${prefix}-fail2ban-reload`,
      {
        connection,
        // The settings' hash changes the reload in preview already; the write times make
        // every file written (a change, or drift repaired) reload fail2ban during up.
        configuration: pulumi
          .all(fail2banFiles.map((resource) => resource.written))
          .apply((written) => `${createHash("sha256").update(JSON.stringify(config.fail2ban)).digest("hex").slice(0, 16)};${written.join(",")}`),
        jails: config.fail2ban.jails.filter((jail) => jail.enabled).map((jail) => jail.name),
        restoreOnDestroy: pulumi.all(fail2banFiles.map((resource) => resource.previous)).apply((snapshots) => JSON.stringify(snapshots)),
      },
      { ...child, dependsOn: fail2banFiles },
    );

    this.summary = pulumi.all([activation.id, reload.id]).apply(() => ({
      address: host.address,
      ufw: { enabled: config.ufw.enabled, incoming: config.ufw.defaults.incoming, outgoing: config.ufw.defaults.outgoing, rules: rules.length },
      fail2ban: { jails: config.fail2ban.jails.filter((jail) => jail.enabled).map((jail) => jail.name) },
      proxmoxFirewall: args.managesCluster ? { cluster: args.managesCluster, enable: config.proxmoxFirewall.enable } : "managed through another node of the cluster",
    }));
    this.registerOutputs({ summary: this.summary });
  }
}
