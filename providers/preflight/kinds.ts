import { kind } from "../core/kind";
import { preflightInputsSchema } from "./schema";

// This folder's resource kind, registered in providers/registry.ts.

/** A read-only check of the node that every change on it waits for. */
export const preflightKind = kind("host:Preflight", preflightInputsSchema);
