import { dynamicResource } from "../core/shim";
import { clusterFirewallKind } from "./kinds";

export const ClusterFirewall = dynamicResource(clusterFirewallKind);
