import * as pulumi from "@pulumi/pulumi";
import { formatFailure } from "../core/errors";
import { issuePath } from "../core/validate";
import { ProgramConfig, programConfigSchema } from "./schema";

/** The stack config keys the program reads (credentials are read by the providers). */
export const programConfigKeys = ["hosts", "proxmoxFirewall", "ufw", "fail2ban", "packages"] as const;

/** Host a config path is about, for messages: hosts[2].port → that host's name. */
function hostOf(raw: Record<string, unknown>, path: readonly PropertyKey[]): string {
  const hosts = raw.hosts;
  if (path[0] === "hosts" && typeof path[1] === "number" && Array.isArray(hosts)) {
    const entry = hosts[path[1]] as { name?: unknown } | undefined;
    return typeof entry?.name === "string" ? entry.name : `hosts[${path[1]}]`;
  }
  return "every host";
}

/** Pure: validates raw config values; throws one message listing every problem. */
export function parseProgramConfig(raw: Record<string, unknown>, stack: string): ProgramConfig {
  const result = programConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) =>
    formatFailure(
      { host: hostOf(raw, issue.path), resource: `stack ${stack} config`, field: `proxmox-hardening:${issuePath(issue.path)}` },
      issue.message,
      "fix the value with `pulumi config set --path` or in Pulumi.<stack>.yaml, then run `pulumi preview` again; nothing was sent to any host",
    ),
  );
  throw new Error(`invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.join("\n")}`);
}

/** Reads and validates the stack's config; runs at preview, before any resource exists. */
export function readProgramConfig(): ProgramConfig {
  const config = new pulumi.Config();
  const raw: Record<string, unknown> = {};
  for (const key of programConfigKeys) {
    const value = config.getObject<unknown>(key);
    if (value !== undefined) raw[key] = value;
  }
  return parseProgramConfig(raw, pulumi.getStack());
}
