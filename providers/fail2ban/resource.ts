import { dynamicResource } from "../core/shim";
import { fail2banDefaultsKind, fail2banFilterKind, fail2banJailKind, fail2banReloadKind } from "./kinds";

// The file resources' outputs `digest` and `written` are the provider's bookkeeping, not
// properties of these classes: the program never gets them (they are not registered).
export const Fail2banFilterResource = dynamicResource(fail2banFilterKind);
export const Fail2banJailResource = dynamicResource(fail2banJailKind);
export const Fail2banDefaultsResource = dynamicResource(fail2banDefaultsKind);
/** One per host: reloads (or starts) fail2ban after its files changed and checks every jail runs. */
export const Fail2banReloadResource = dynamicResource(fail2banReloadKind);
