import { Implementation } from "./core/implementation";
import { ResourceKind } from "./core/shim";
import { packages } from "./packages/provider";
import { clusterFirewall } from "./proxmox/provider";

// The provider process's entry point: the shim stored in state asks for an
// implementation by kind. Kinds are never renamed, since state refers to them.
const implementations: Partial<Record<ResourceKind, Implementation>> = {
  "proxmox:ClusterFirewall": clusterFirewall,
  "host:Packages": packages,
};

export function implementationOf(kind: ResourceKind): Implementation {
  const found = implementations[kind];
  if (!found) throw new Error(`no provider implementation for ${kind}; this state was written by a newer proxmox-hardening`);
  return found;
}
