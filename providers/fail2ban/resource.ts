import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { defaultsInputsSchema, filterInputsSchema, jailInputsSchema, reloadInputsSchema } from "./provider";

type Args<S extends z.ZodType> = Omit<z.input<S>, "label">;

// The file resources' outputs `digest` and `written` are the provider's bookkeeping, not
// properties of these classes: the program never gets them (a declared-only property is undefined).
export const Fail2banFilterResource = dynamicResource<Args<typeof filterInputsSchema>>("fail2ban:Filter");
export const Fail2banJailResource = dynamicResource<Args<typeof jailInputsSchema>>("fail2ban:Jail");
export const Fail2banDefaultsResource = dynamicResource<Args<typeof defaultsInputsSchema>>("fail2ban:Defaults");
/** One per host: reloads (or starts) fail2ban after its files changed and checks every jail runs. */
export const Fail2banReloadResource = dynamicResource<Args<typeof reloadInputsSchema>>("fail2ban:Reload");
