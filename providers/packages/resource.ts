import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { packagesInputsSchema } from "./schema";

export type PackagesArgs = Omit<z.input<typeof packagesInputsSchema>, "label">;

/** Debian packages the hardening needs, installed only when missing. */
export const Packages = dynamicResource<PackagesArgs>("host:Packages");
