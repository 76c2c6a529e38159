import { kind } from "../core/kind";
import { clusterFirewallInputsSchema } from "./schema";

// This folder's resource kind, registered in providers/registry.ts.

/** The Proxmox cluster firewall options, managed once per cluster through one of its nodes. */
export const clusterFirewallKind = kind("proxmox:ClusterFirewall", clusterFirewallInputsSchema);
