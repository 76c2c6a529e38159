import { z } from "zod";
import { dynamicResource } from "../core/shim";
import { preflightInputsSchema } from "./schema";

export type PreflightArgs = Omit<z.input<typeof preflightInputsSchema>, "label">;

/** A read-only check of the node that every change on it waits for. */
export const Preflight = dynamicResource<PreflightArgs>("host:Preflight");
