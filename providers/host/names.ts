import { createHash } from "node:crypto";
import { UfwRule } from "../ufw/schema";

/** The type of the component that holds one host's resources (in every URN of them). */
export const hostComponentType = "proxmox-hardening:index:HardenedHost";

/**
 * A stable, readable resource name for a rule, from its match: the same rule
 * keeps its name (and state) across runs; a changed match is a new rule.
 */
export function ruleName(rule: UfwRule): string {
  const parts = [rule.direction, rule.protocol, rule.port ?? "all", rule.from === "any" ? "" : `from-${rule.from}`, rule.to === "any" ? "" : `to-${rule.to}`, rule.interface ? `on-${rule.interface}` : ""];
  const readable = parts.filter(Boolean).join("-").replace(/[^A-Za-z0-9-]+/g, "_");
  if (readable.length <= 60) return readable;
  return `${readable.slice(0, 48)}-${createHash("sha256").update(JSON.stringify(rule)).digest("hex").slice(0, 10)}`;
}
