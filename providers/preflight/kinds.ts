import { kind } from "../core/kind";
import { preflightInputsSchema } from "./schema";

// This folder's resource kind, registered in providers/registry.ts.
// "host:" because 0.2.0 named it so, and state keeps a kind's name: a kind is never renamed.

/** A read-only check of the node that every change on it waits for. */
export const preflightKind = kind("host:Preflight", preflightInputsSchema);
