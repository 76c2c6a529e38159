import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { defaultsInputsSchema, filterInputsSchema, jailInputsSchema, reloadInputsSchema } from "./provider";

type Args<S extends z.ZodType> = Omit<z.input<S>, "label">;

/** A file resource's output `written` changes whenever the resource writes its file. */
function withDigest<T extends new (...args: any[]) => pulumi.dynamic.Resource>(base: T) {
  return class extends base {
    declare readonly digest: pulumi.Output<string>;
    declare readonly written: pulumi.Output<string>;
  };
}

export const Fail2banFilterResource = withDigest(dynamicResource<Args<typeof filterInputsSchema>>("fail2ban:Filter"));
export const Fail2banJailResource = withDigest(dynamicResource<Args<typeof jailInputsSchema>>("fail2ban:Jail"));
export const Fail2banDefaultsResource = withDigest(dynamicResource<Args<typeof defaultsInputsSchema>>("fail2ban:Defaults"));
/** One per host: reloads (or starts) fail2ban after its files changed and checks every jail runs. */
export const Fail2banReloadResource = dynamicResource<Args<typeof reloadInputsSchema>>("fail2ban:Reload");
