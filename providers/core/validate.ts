import { z } from "zod";
import { FailureContext, formatFailure } from "./errors";

/** The shape Pulumi's check expects for each bad property. */
export interface CheckFailure {
  property: string;
  reason: string;
}

/** Dotted path of a zod issue, e.g. rules[2].port; empty for the root. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => (typeof part === "number" ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`))
    .join("");
}

/** zod's issues with the path each is about: an unknown key at its own path (one per key), not at its parent's. */
export function locatedIssues(error: z.ZodError): { issue: z.core.$ZodIssue; path: PropertyKey[] }[] {
  return error.issues.flatMap((issue): { issue: z.core.$ZodIssue; path: PropertyKey[] }[] =>
    issue.code === "unrecognized_keys" ? issue.keys.map((key) => ({ issue, path: [...issue.path, key] })) : [{ issue, path: issue.path }],
  );
}

/** Converts zod issues into Pulumi check failures whose reasons name host, resource and field. */
export function checkFailures(error: z.ZodError, context: FailureContext): CheckFailure[] {
  return locatedIssues(error).map(({ issue, path }) => {
    const field = issuePath(path) || "(inputs)";
    return {
      property: String(path[0] ?? ""),
      reason: formatFailure({ ...context, field }, issue.message, "fix the value in the stack config or program and run `pulumi preview` again"),
    };
  });
}

export type Checked<T> = { ok: true; value: T } | { ok: false; failures: CheckFailure[] };

/** Validates raw inputs against a schema without throwing. */
export function validate<S extends z.ZodType>(schema: S, raw: unknown, context: FailureContext): Checked<z.output<S>> {
  const result = schema.safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, failures: checkFailures(result.error, context) };
}
