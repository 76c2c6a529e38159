import * as pulumi from "@pulumi/pulumi";
import { formatFailure } from "../core/errors";
import { issuePath, locatedIssues } from "../core/validate";
import { credentialConfigKeys } from "../ssh/credentials";
import { ProgramConfig, programConfigSchema } from "./schema";

/** The stack config keys the program reads (credentials are read by the providers). */
export const programConfigKeys = Object.keys(programConfigSchema.shape) as (keyof ProgramConfig)[];

/** Host a config path is about, for messages: hosts[2].port → that host's name. */
function hostOf(raw: Record<string, unknown>, path: readonly PropertyKey[]): string {
  const hosts = raw.hosts;
  if (path[0] === "hosts" && typeof path[1] === "number" && Array.isArray(hosts)) {
    const entry = hosts[path[1]] as { name?: unknown } | undefined;
    // A name that is itself invalid (quotes, newlines, very long) is shown quoted and cut short.
    if (typeof entry?.name !== "string") return `hosts[${path[1]}]`;
    return /^[A-Za-z0-9-]{1,63}$/.test(entry.name) ? entry.name : `hosts[${path[1]}] ${JSON.stringify(entry.name.slice(0, 40))}`;
  }
  return "every host";
}

/** Pure: validates raw config values; throws one message listing every problem. */
export function parseProgramConfig(raw: Record<string, unknown>, stack: string): ProgramConfig {
  const result = programConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = locatedIssues(result.error).map(({ issue, path }) =>
    formatFailure(
      { host: hostOf(raw, path), resource: `stack ${stack} config`, field: `proxmox-hardening:${issuePath(path)}` },
      issue.message,
      "fix the value with `pulumi config set --path` or in Pulumi.<stack>.yaml, then run `pulumi preview` again; nothing was sent to any host",
    ),
  );
  throw new Error(`invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.join("\n")}`);
}

/**
 * Keys of the project's namespace that the program does not know (a typo such as
 * `fail2bann` would otherwise be ignored silently and the defaults applied).
 * Only key names are looked at, never values: an unknown key may hold a secret.
 */
export function unknownConfigKeys(fullKeys: readonly string[], project: string): string[] {
  const known = new Set<string>([...programConfigKeys, ...Object.keys(credentialConfigKeys)]);
  return fullKeys
    .filter((fullKey) => fullKey.startsWith(`${project}:`))
    .map((fullKey) => fullKey.slice(project.length + 1))
    .filter((key) => !known.has(key));
}

/** Reads and validates the stack's config; runs at preview, before any resource exists. */
export function readProgramConfig(): ProgramConfig {
  const config = new pulumi.Config();
  const raw: Record<string, unknown> = {};
  for (const key of programConfigKeys) {
    const value = config.getObject<unknown>(key);
    if (value !== undefined) raw[key] = value;
  }
  // Unknown keys go in without their values, so the strict schema names them.
  for (const key of unknownConfigKeys(Object.keys(pulumi.runtime.allConfig()), pulumi.getProject())) raw[key] = null;
  return parseProgramConfig(raw, pulumi.getStack());
}
