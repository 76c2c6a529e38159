import { z } from "zod";
import { kind } from "../core/kind";
import { commonInputs } from "../ssh/schema";
import { lockoutProblems } from "./logic";
import { UfwActivation, UfwDefaults, UfwLockoutGuard, UfwRule } from "./schema";

// This folder's resource kinds and their inputs, registered in providers/registry.ts.

export const ufwBaselineInputsSchema = z.strictObject({ ...commonInputs });
export const ufwRuleInputsSchema = z.strictObject({ ...commonInputs, rule: UfwRule });
export const ufwDefaultsInputsSchema = z.strictObject({ ...commonInputs, defaults: UfwDefaults });
export const ufwActivationInputsSchema = z
  .strictObject({
    ...commonInputs,
    ...UfwActivation.shape,
    guard: UfwLockoutGuard.extend({
      incoming: UfwDefaults.shape.incoming,
      allowForwardDeny: UfwDefaults.shape.allowForwardDeny,
      rules: z.array(UfwRule).describe("The program's rules for this host, in order."),
    }).describe("What the lockout guard checks before ufw is switched on."),
  })
  .superRefine((inputs, ctx) => {
    for (const problem of lockoutProblems({ ...inputs.guard, defaults: { incoming: inputs.guard.incoming }, activation: inputs })) {
      ctx.addIssue({ code: "custom", path: ["enabled"], message: problem });
    }
  });

/** One ufw rule; a rule that already exists on the host is adopted, and kept on destroy. */
export const ufwRuleKind = kind("ufw:Rule", ufwRuleInputsSchema);
/** ufw's default policies and logging level. */
export const ufwDefaultsKind = kind("ufw:Defaults", ufwDefaultsInputsSchema);
/** ufw on or off, refused when it would cut the program's own SSH access. */
export const ufwActivationKind = kind("ufw:Activation", ufwActivationInputsSchema);
/** ufw's files as they were before any other ufw resource, put back byte for byte on destroy. */
export const ufwBaselineKind = kind("ufw:Baseline", ufwBaselineInputsSchema);
