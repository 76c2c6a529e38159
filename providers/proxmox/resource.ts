import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { clusterFirewallInputsSchema } from "./schema";

export type ClusterFirewallArgs = Omit<z.input<typeof clusterFirewallInputsSchema>, "label">;

/** The Proxmox cluster firewall options, managed once per cluster through one of its nodes. */
export const ClusterFirewall = dynamicResource<ClusterFirewallArgs>("proxmox:ClusterFirewall");
