import { z } from "zod";

/**
 * A resource kind: its name, written once (Pulumi state records it in every resource's type,
 * so it is never renamed), and the zod schema of its inputs. The provider implements it, the
 * resource class is built from it and the registry lists it; their types follow from this.
 */
export interface Kind<Name extends string = string, Inputs extends z.ZodType = z.ZodType> {
  readonly name: Name;
  readonly inputs: Inputs;
}

export function kind<const Name extends string, Inputs extends z.ZodType>(name: Name, inputs: Inputs): Kind<Name, Inputs> {
  return { name, inputs };
}
