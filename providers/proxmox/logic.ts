import { z } from "zod";
import { ClusterFirewallOptions, logRateLimitSchema } from "./schema";

// Pure translation between the resource's options and what `pvesh` reads and
// writes. pvesh values are strings on the command line and numbers or strings
// in its JSON output; a key `pvesh get` leaves out is unset, which Proxmox
// treats as its default (enable: 0).

export const OPTIONS_PATH = "/cluster/firewall/options";

/** Values Proxmox uses when a key is unset. */
const DEFAULTS: Record<string, string> = { enable: "0", ebtables: "1" };

export type OptionValues = Record<string, string>;

const bool = (value: boolean) => (value ? "1" : "0");

function renderRateLimit(limit: z.output<typeof logRateLimitSchema>): string {
  const parts = [`enable=${bool(limit.enable)}`];
  if (limit.rate) parts.push(`rate=${limit.rate}`);
  if (limit.burst !== undefined) parts.push(`burst=${limit.burst}`);
  return parts.join(",");
}

/** The pvesh values the options ask for, one per managed key. */
export function desiredValues(options: ClusterFirewallOptions): OptionValues {
  const values: OptionValues = { enable: bool(options.enable) };
  if (options.policy_in) values.policy_in = options.policy_in;
  if (options.policy_out) values.policy_out = options.policy_out;
  if (options.policy_forward) values.policy_forward = options.policy_forward;
  if (options.ebtables !== undefined) values.ebtables = bool(options.ebtables);
  if (options.log_ratelimit) values.log_ratelimit = renderRateLimit(options.log_ratelimit);
  return values;
}

/** Parses `pvesh get /cluster/firewall/options --output-format json`. */
export function parseOptionsJson(stdout: string): OptionValues {
  const parsed: unknown = JSON.parse(stdout.trim() || "{}");
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`pvesh returned ${JSON.stringify(stdout.slice(0, 200))}, not a JSON object`);
  }
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
}

/** A live value with unset read as Proxmox's default. */
export function effectiveValue(live: OptionValues, key: string): string | undefined {
  return live[key] ?? DEFAULTS[key];
}

/**
 * The managed keys to set: those whose live value is not written exactly as
 * desired. An unset key counts too, so the host shows the value explicitly
 * (`enable: 0`), as the reference procedure's `pvesh set --enable 0` leaves it;
 * drift detection (optionsFromLive) reads unset as Proxmox's default instead.
 */
export function keysToSet(desired: OptionValues, live: OptionValues): string[] {
  return Object.keys(desired).filter((key) => live[key] !== desired[key]);
}

/** What to remember before changing anything: each managed key's raw value, or null when unset. */
export function previousValues(desired: OptionValues, live: OptionValues): Record<string, string | null> {
  return Object.fromEntries(Object.keys(desired).map((key) => [key, live[key] ?? null]));
}

/** argv for pvesh that sets `set` and unsets `unset` (Proxmox's --delete takes a comma list). */
export function setArgs(set: OptionValues, unset: readonly string[] = []): string[] {
  const args = ["pvesh", "set", OPTIONS_PATH];
  for (const [key, value] of Object.entries(set)) args.push(`--${key}`, value);
  if (unset.length > 0) args.push("--delete", unset.join(","));
  return args;
}

/** argv that puts the remembered values back, unsetting what was unset. */
export function restoreArgs(previous: Record<string, string | null>): string[] | undefined {
  const set = Object.fromEntries(Object.entries(previous).filter((entry): entry is [string, string] => entry[1] !== null));
  const unset = Object.keys(previous).filter((key) => previous[key] === null);
  return Object.keys(set).length + unset.length > 0 ? setArgs(set, unset) : undefined;
}

/** The live state expressed as the resource's options, for refresh to show drift. */
export function optionsFromLive(desired: ClusterFirewallOptions, live: OptionValues): ClusterFirewallOptions {
  const observed: ClusterFirewallOptions = { ...desired, enable: effectiveValue(live, "enable") === "1" };
  for (const key of ["policy_in", "policy_out", "policy_forward"] as const) {
    if (desired[key] !== undefined) (observed as Record<string, unknown>)[key] = live[key];
  }
  if (desired.ebtables !== undefined) observed.ebtables = effectiveValue(live, "ebtables") === "1";
  if (desired.log_ratelimit !== undefined) observed.log_ratelimit = parseRateLimit(live.log_ratelimit);
  return observed;
}

/** Parses Proxmox's `enable=1,rate=1/second,burst=5`; unset means Proxmox's default (enabled). */
export function parseRateLimit(raw: string | undefined): z.output<typeof logRateLimitSchema> {
  const fields = Object.fromEntries((raw ?? "").split(",").filter(Boolean).map((part) => part.split("=", 2) as [string, string]));
  const limit: z.output<typeof logRateLimitSchema> = { enable: fields.enable !== "0" };
  if (fields.rate) limit.rate = fields.rate;
  if (fields.burst !== undefined) limit.burst = Number(fields.burst);
  return limit;
}

// ------------------------------------------------------------------ corosync.conf

export interface CorosyncNode {
  name: string;
  nodeid?: number;
  /** ring0_addr, ring1_addr... in link order: IP addresses or names, as written. */
  addresses: string[];
}

export interface CorosyncConf {
  clusterName?: string;
  nodes: CorosyncNode[];
}

/**
 * Parses /etc/pve/corosync.conf (corosync's own `section { key: value }`
 * format, `#` comments) for what the cluster guard needs: the cluster name and
 * each member's link addresses. Throws on unbalanced braces, so a truncated
 * file never reads as a cluster with fewer members.
 */
export function parseCorosyncConf(text: string): CorosyncConf {
  const path: string[] = [];
  const nodes: CorosyncNode[] = [];
  let clusterName: string | undefined;
  let node: Record<string, string> | undefined;
  for (const [index, rawLine] of text.split("\n").entries()) {
    const line = rawLine.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const open = /^([A-Za-z0-9_.-]+)\s*\{$/.exec(line);
    if (open) {
      path.push(open[1]);
      if (path.join(".") === "nodelist.node") node = {};
      continue;
    }
    if (line === "}") {
      if (path.length === 0) throw new Error(`corosync.conf line ${index + 1}: "}" without an open section`);
      if (path.join(".") === "nodelist.node" && node) {
        const addresses = Object.keys(node)
          .map((key) => /^ring(\d+)_addr$/.exec(key))
          .filter((match): match is RegExpExecArray => match !== null)
          .sort((a, b) => Number(a[1]) - Number(b[1]))
          .map((match) => node![match[0]]);
        nodes.push({ name: node.name ?? node.ring0_addr ?? `nodeid ${node.nodeid}`, ...(node.nodeid ? { nodeid: Number(node.nodeid) } : {}), addresses });
        node = undefined;
      }
      path.pop();
      continue;
    }
    const pair = /^([A-Za-z0-9_.-]+)\s*:\s*(.*)$/.exec(line);
    if (!pair) throw new Error(`corosync.conf line ${index + 1}: ${JSON.stringify(line.slice(0, 80))} is neither "key: value" nor a section`);
    if (node) node[pair[1]] = pair[2];
    else if (path.join(".") === "totem" && pair[1] === "cluster_name") clusterName = pair[2];
  }
  if (path.length > 0) throw new Error(`corosync.conf ends inside section ${path.join(".")}`);
  return { ...(clusterName ? { clusterName } : {}), nodes };
}
