import { z } from "zod";
import { kind } from "../core/kind";
import { commonInputs } from "../ssh/schema";
import { Fail2banDefaults, Fail2banFilter, Fail2banJail, JailName } from "./schema";

// This folder's resource kinds and their inputs, registered in providers/registry.ts.

export const filterInputsSchema = z.strictObject({ ...commonInputs, filter: Fail2banFilter });
export const jailInputsSchema = z.strictObject({ ...commonInputs, jail: Fail2banJail });
export const defaultsInputsSchema = z.strictObject({ ...commonInputs, defaults: Fail2banDefaults });
export const reloadInputsSchema = z.strictObject({
  ...commonInputs,
  configuration: z.string().describe("A hash of the fail2ban settings (reloadTrigger); a change reloads fail2ban."),
  jails: z.array(JailName).describe("Enabled jails that must be running after the reload."),
  restoreOnDestroy: z.string().describe("JSON list of the fail2ban files as they were before this program wrote them (their resources' previous): destroy puts them all back, then reloads once."),
  observed: z
    .string()
    .optional()
    .describe('JSON of what the host\'s preflight saw, {"failedBefore": fail2ban-client -t\'s errors before any change}, so that the first reload can say it fixed a configuration that failed before (a string, like restoreOnDestroy, as preview passes it unknown).'),
});

/** A fail2ban filter file, checked against its samples with fail2ban-regex on the host before it is installed. */
export const fail2banFilterKind = kind("fail2ban:Filter", filterInputsSchema);
/** A fail2ban jail file. */
export const fail2banJailKind = kind("fail2ban:Jail", jailInputsSchema);
/** fail2ban's [DEFAULT] settings file. */
export const fail2banDefaultsKind = kind("fail2ban:Defaults", defaultsInputsSchema);
/** Reloads fail2ban after any of its files changed, and puts the files back on destroy. */
export const fail2banReloadKind = kind("fail2ban:Reload", reloadInputsSchema);
