import { z } from "zod";
import { implementation, Lifecycle } from "../core/implementation";
import { Kind } from "../core/kind";
import { hostSessionsFor } from "./credentials";
import { HostSessions } from "./transport";

/** A kind whose methods reach their host over SSH, with the sessions made from the stack's credentials. */
export function hostImplementation<Name extends string, S extends z.ZodType>(kind: Kind<Name, S>, lifecycle: Lifecycle<S, HostSessions>) {
  return implementation(kind, lifecycle, hostSessionsFor);
}
