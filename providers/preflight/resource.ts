import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { PreflightObserved, preflightInputsSchema } from "./schema";

export type PreflightArgs = Omit<z.input<typeof preflightInputsSchema>, "label" | "owner">;

/** A read-only check of the node that every change on it waits for. */
export class Preflight extends dynamicResource<PreflightArgs>("host:Preflight") {
  declare readonly observed: pulumi.Output<PreflightObserved | undefined>;
  constructor(name: string, args: { [K in keyof PreflightArgs]: pulumi.Input<PreflightArgs[K]> }, opts?: pulumi.CustomResourceOptions) {
    // An undefined input makes `observed` an output of the class (it is never sent to the provider).
    super(name, { ...args, observed: undefined } as typeof args, opts);
  }
}
