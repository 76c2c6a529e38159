import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { shimProvider } from "../core/shim";
import { packagesInputsSchema } from "./schema";

export type PackagesArgs = Omit<z.input<typeof packagesInputsSchema>, "label">;

/** Debian packages the hardening needs, installed only when missing. */
export class Packages extends pulumi.dynamic.Resource {
  constructor(name: string, args: PackagesArgs, opts?: pulumi.CustomResourceOptions) {
    super(shimProvider("host:Packages"), name, { ...args, label: name, previous: undefined }, opts, "proxmox-hardening", "Packages");
  }
}
