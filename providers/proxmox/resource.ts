import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { shimProvider } from "../core/shim";
import { clusterFirewallInputsSchema } from "./schema";

export type ClusterFirewallArgs = Omit<z.input<typeof clusterFirewallInputsSchema>, "label">;

/** The Proxmox cluster firewall options, managed once per cluster through one of its nodes. */
export class ClusterFirewall extends pulumi.dynamic.Resource {
  declare readonly previous: pulumi.Output<Record<string, string | null>>;

  constructor(name: string, args: ClusterFirewallArgs, opts?: pulumi.CustomResourceOptions) {
    super(shimProvider("proxmox:ClusterFirewall"), name, { ...args, label: name, previous: undefined }, opts, "proxmox-hardening", "ClusterFirewall");
  }
}
