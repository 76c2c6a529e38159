import { z } from "zod";
import { commonInputs } from "../ssh/schema";

// The cluster-wide firewall options Proxmox VE accepts at
// /cluster/firewall/options. /etc/pve is shared by every node of a cluster,
// so this is one resource per cluster, applied through one of its nodes.
// Only the options given here are managed; the others are left as they are.

const policy = z.enum(["ACCEPT", "REJECT", "DROP"]);

export const logRateLimitSchema = z
  .strictObject({
    enable: z.boolean().default(true).describe("Rate-limit firewall log messages."),
    rate: z
      .string()
      .regex(/^[1-9][0-9]{0,3}\/(second|minute|hour|day)$/, "N/second, N/minute, N/hour or N/day")
      .optional()
      .describe("Average rate, e.g. 1/second."),
    burst: z.number().int().min(0).max(100).optional().describe("Initial burst of packets logged before the rate applies."),
  })
  .describe("Proxmox's log_ratelimit option.");

export const clusterFirewallOptionsSchema = z
  .strictObject({
    enable: z
      .boolean()
      .default(false)
      .describe("The Proxmox cluster firewall. Off by default here: UFW is the one firewall that owns the host."),
    policy_in: policy.optional().describe("Proxmox firewall input policy (only matters when enable is true)."),
    policy_out: policy.optional().describe("Proxmox firewall output policy."),
    policy_forward: z.enum(["ACCEPT", "DROP"]).optional().describe("Proxmox firewall forward policy (PVE 8.2+, nftables firewall)."),
    ebtables: z.boolean().optional().describe("Enable ebtables rules cluster wide."),
    log_ratelimit: logRateLimitSchema.optional(),
  })
  .describe("Proxmox VE cluster firewall options, set with `pvesh set /cluster/firewall/options`.");

export type ClusterFirewallOptions = z.output<typeof clusterFirewallOptionsSchema>;

export const clusterFirewallInputsSchema = z.strictObject({
  ...commonInputs,
  cluster: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/i, "a cluster name: letters, digits and '-'")
    .describe("Name of the Proxmox cluster (a standalone host is its own cluster)."),
  options: clusterFirewallOptionsSchema.prefault({}),
});

export type ClusterFirewallInputs = z.output<typeof clusterFirewallInputsSchema>;
