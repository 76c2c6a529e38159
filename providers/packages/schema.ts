import { z } from "zod";
import { commonInputs } from "../ssh/schema";

export const packageNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.-]{1,62}$/, "a Debian package name (lower case letters, digits, '+', '-', '.')");

export const packagesInputsSchema = z.strictObject({
  ...commonInputs,
  packages: z.array(packageNameSchema).min(1).describe("Debian packages that must be installed."),
  removeOnDestroy: z
    .boolean()
    .default(true)
    .describe("On destroy, purge the packages this resource installed (never those that were there before)."),
});

export type PackagesInputs = z.output<typeof packagesInputsSchema>;
