import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { ufwActivationInputsSchema, ufwBaselineInputsSchema, ufwDefaultsInputsSchema, ufwRuleInputsSchema } from "./provider";

type Args<S extends z.ZodType> = Omit<z.input<S>, "label">;

/** One ufw rule; a rule that already exists on the host is adopted, and kept on destroy. */
export const UfwRuleResource = dynamicResource<Args<typeof ufwRuleInputsSchema>>("ufw:Rule");
/** ufw's default policies and logging level. */
export const UfwDefaultsResource = dynamicResource<Args<typeof ufwDefaultsInputsSchema>>("ufw:Defaults");
/** ufw on or off, refused when it would cut the program's own SSH access. */
export const UfwActivationResource = dynamicResource<Args<typeof ufwActivationInputsSchema>>("ufw:Activation");
/** ufw's files as they were before any other ufw resource, put back byte for byte on destroy. */
export const UfwBaselineResource = dynamicResource<Args<typeof ufwBaselineInputsSchema>>("ufw:Baseline");
