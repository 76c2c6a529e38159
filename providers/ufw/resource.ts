import { dynamicResource } from "../core/shim";
import { ufwActivationKind, ufwBaselineKind, ufwDefaultsKind, ufwRuleKind } from "./kinds";

export const UfwRuleResource = dynamicResource(ufwRuleKind);
export const UfwDefaultsResource = dynamicResource(ufwDefaultsKind);
export const UfwActivationResource = dynamicResource(ufwActivationKind);
export const UfwBaselineResource = dynamicResource(ufwBaselineKind);
