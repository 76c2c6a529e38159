import { createHash } from "node:crypto";
import { UFW_RULE_REPLACE_KEYS } from "../ufw/logic";
import { UfwRule } from "../ufw/schema";

/** The type of the component that holds one host's resources (in every URN of them). */
export const hostComponentType = "proxmox-hardening:index:HardenedHost";

const readableName = (rule: UfwRule) =>
  [rule.direction, rule.protocol, rule.port ?? "all", rule.from === "any" ? "" : `from-${rule.from}`, rule.to === "any" ? "" : `to-${rule.to}`, rule.interface ? `on-${rule.interface}` : ""]
    .filter(Boolean)
    .join("-")
    .replace(/[^A-Za-z0-9-]+/g, "_");

const hashed = (readable: string, value: unknown) => `${readable.slice(0, 48)}-${createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 10)}`;

/** What ufw tells a rule by (its action and comment are updated in place). */
const matchOf = (rule: UfwRule) => UFW_RULE_REPLACE_KEYS.map((key) => rule[key] ?? null);

/**
 * Stable, readable resource names for the rules, from their match: the same rule keeps its name
 * (and state) across runs, whatever its action or comment; a changed match is a new rule. A long
 * name is cut and made unique by a hash of the match, and so are names that the readable form
 * would make equal (`80,443` and `80:443` both read `80_443`).
 */
export function ruleNames(rules: readonly UfwRule[]): string[] {
  const readable = rules.map(readableName);
  return readable.map((name, i) => (name.length > 60 || readable.indexOf(name) !== readable.lastIndexOf(name) ? hashed(name, matchOf(rules[i])) : name));
}

/**
 * The name a long rule had before its hash was of its match alone (its action and comment were
 * in it, so changing the comment made a new resource, whose old one's delete then took the rule
 * off the node): an alias, so that a stack deployed with it keeps its resource.
 */
export function legacyRuleName(rule: UfwRule): string | undefined {
  const readable = readableName(rule);
  return readable.length > 60 ? hashed(readable, rule) : undefined;
}
