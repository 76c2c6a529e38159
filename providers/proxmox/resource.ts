import { dynamicResource } from "../core/shim";
import { clusterFirewallKind } from "./kinds";

export const ClusterFirewallResource = dynamicResource(clusterFirewallKind);
