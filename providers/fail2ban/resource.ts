import * as pulumi from "@pulumi/pulumi";
import { dynamicResource } from "../core/shim";
import { fail2banDefaultsKind, fail2banFilterKind, fail2banJailKind, fail2banReloadKind } from "./kinds";

/** A file resource's output `written` changes whenever the resource writes its file. */
function withDigest<T extends new (...args: any[]) => pulumi.dynamic.Resource>(base: T) {
  return class extends base {
    declare readonly digest: pulumi.Output<string>;
    declare readonly written: pulumi.Output<string>;
  };
}

export const Fail2banFilterResource = withDigest(dynamicResource(fail2banFilterKind));
export const Fail2banJailResource = withDigest(dynamicResource(fail2banJailKind));
export const Fail2banDefaultsResource = withDigest(dynamicResource(fail2banDefaultsKind));
/** One per host: reloads (or starts) fail2ban after its files changed and checks every jail runs. */
export const Fail2banReloadResource = dynamicResource(fail2banReloadKind);
