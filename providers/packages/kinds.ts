import { kind } from "../core/kind";
import { packagesInputsSchema } from "./schema";

// This folder's resource kind, registered in providers/registry.ts.
// "host:" because 0.1.0 named it so, and state keeps a kind's name: a kind is never renamed.

/** Debian packages the hardening needs, installed only when missing. */
export const packagesKind = kind("host:Packages", packagesInputsSchema);
