import { Implementation } from "./core/implementation";
import { fail2banDefaults, fail2banFilter, fail2banJail, fail2banReload } from "./fail2ban/provider";
import { packages } from "./packages/provider";
import { preflight } from "./preflight/provider";
import { clusterFirewall } from "./proxmox/provider";
import { ufwActivation, ufwBaseline, ufwDefaults, ufwRule } from "./ufw/provider";

// The provider process's entry point: the shim stored in state asks for an implementation by
// kind. A new kind is one more entry here; its name comes from its declaration (a folder's
// kinds.ts) and is never renamed, since state refers to it.
const implementations = [
  clusterFirewall,
  packages,
  preflight,
  ufwRule,
  ufwDefaults,
  ufwActivation,
  ufwBaseline,
  fail2banFilter,
  fail2banJail,
  fail2banDefaults,
  fail2banReload,
] as const satisfies readonly Implementation[];

/** The name of every registered kind, e.g. "ufw:Rule". */
export type ResourceKind = (typeof implementations)[number]["kind"];

export function implementationOf(kind: string): Implementation {
  const found = implementations.find((implementation) => implementation.kind === kind);
  if (!found) throw new Error(`no provider implementation for ${kind}; this state was written by a newer proxmox-hardening`);
  return found;
}
