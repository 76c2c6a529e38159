import { Implementation } from "./core/implementation";
import { ResourceKind } from "./core/shim";
import { fail2banDefaults, fail2banFilter, fail2banJail, fail2banReload } from "./fail2ban/provider";
import { packages } from "./packages/provider";
import { preflight } from "./preflight/provider";
import { clusterFirewall } from "./proxmox/provider";
import { ufwActivation, ufwBaseline, ufwDefaults, ufwRule } from "./ufw/provider";

// The provider process's entry point: the shim stored in state asks for an
// implementation by kind. Kinds are never renamed, since state refers to them.
const implementations: Record<ResourceKind, Implementation> = {
  "proxmox:ClusterFirewall": clusterFirewall,
  "host:Packages": packages,
  "host:Preflight": preflight,
  "ufw:Rule": ufwRule,
  "ufw:Defaults": ufwDefaults,
  "ufw:Activation": ufwActivation,
  "ufw:Baseline": ufwBaseline,
  "fail2ban:Filter": fail2banFilter,
  "fail2ban:Jail": fail2banJail,
  "fail2ban:Defaults": fail2banDefaults,
  "fail2ban:Reload": fail2banReload,
};

export function implementationOf(kind: ResourceKind): Implementation {
  const found: Implementation | undefined = implementations[kind];
  if (!found) throw new Error(`no provider implementation for ${kind}; this state was written by a newer proxmox-hardening`);
  return found;
}
