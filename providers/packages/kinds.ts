import { kind } from "../core/kind";
import { packagesInputsSchema } from "./schema";

// This folder's resource kind, registered in providers/registry.ts.

/** Debian packages the hardening needs, installed only when missing. */
export const packagesKind = kind("host:Packages", packagesInputsSchema);
