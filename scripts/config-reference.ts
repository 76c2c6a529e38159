// Generates docs/CONFIG.md, the stack config reference, from the zod schemas
// that validate the config: the schemas are the single source of truth, and
// test/unit/config-reference.test.ts fails when the committed file is stale.
//   node --import tsx scripts/config-reference.ts          # rewrite docs/CONFIG.md
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { programConfigSchema } from "../providers/host/schema";
import { credentialConfigKeys } from "../providers/ssh/credentials";

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

interface Row {
  key: string;
  type: string;
  required: boolean;
  defaultValue: string;
  meaning: string;
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" \\| ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(" or ");
  if (schema.type === "array") return `list of ${schema.items ? typeOf(schema.items) : "values"}`;
  const base = Array.isArray(schema.type) ? schema.type.join(" or ") : schema.type ?? "any";
  const limits: string[] = [];
  if (schema.minimum !== undefined || schema.maximum !== undefined) limits.push(`${schema.minimum ?? ""}..${schema.maximum ?? ""}`);
  return limits.length ? `${base} (${limits.join(", ")})` : base;
}

function defaultOf(schema: JsonSchema): string {
  if (schema.default === undefined) return "";
  const text = JSON.stringify(schema.default);
  return text.length > 80 ? "see below" : `\`${text.replaceAll("|", "\\|")}\``;
}

/** One row per leaf and per object, depth first, with dotted keys; list items as key[]. */
function rows(schema: JsonSchema, key: string, required: boolean, out: Row[]): void {
  const item = schema.type === "array" ? schema.items : undefined;
  out.push({ key, type: typeOf(schema), required, defaultValue: defaultOf(schema), meaning: (schema.description ?? item?.description ?? "").replaceAll("|", "\\|").replaceAll("\n", " ") });
  const objectSchema = item?.properties ? item : schema.properties ? schema : undefined;
  if (!objectSchema?.properties) return;
  const prefix = item ? `${key}[]` : key;
  for (const [name, child] of Object.entries(objectSchema.properties)) {
    rows(child, `${prefix}.${name}`, objectSchema.required?.includes(name) ?? false, out);
  }
}

function table(list: Row[]): string {
  const lines = ["| key | type | required | default | meaning |", "| --- | --- | --- | --- | --- |"];
  for (const row of list) lines.push(`| \`${row.key}\` | ${row.type} | ${row.required ? "yes" : ""} | ${row.defaultValue} | ${row.meaning} |`);
  return lines.join("\n");
}

export function renderConfigReference(): string {
  const schema = z.toJSONSchema(programConfigSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const sections: string[] = [
    "# Stack config reference",
    "",
    "Generated from the zod schemas by `node --import tsx scripts/config-reference.ts`; do not edit by hand.",
    "Every key lives in the `proxmox-hardening` namespace (`proxmox-hardening:hosts` in `Pulumi.<stack>.yaml`,",
    "`pulumi config set --path 'hosts[0].address' 203.0.113.10`). Defaults are the reference procedure's values,",
    "so a stack with only `hosts` (and a credential) hardens every host the way the procedure does.",
    "",
  ];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const list: Row[] = [];
    rows(child, name, schema.required?.includes(name) ?? false, list);
    sections.push(`## \`proxmox-hardening:${name}\``, "", child.description ?? "", "", table(list), "");
    if (child.default !== undefined && JSON.stringify(child.default).length > 2) {
      sections.push("Default:", "", "```json", JSON.stringify(child.default, null, 2), "```", "");
    }
    for (const [childName, grandChild] of Object.entries(child.properties ?? {})) {
      if (grandChild.default !== undefined && JSON.stringify(grandChild.default).length > 80) {
        sections.push(`Default of \`${name}.${childName}\`:`, "", "```json", JSON.stringify(grandChild.default, null, 2), "```", "");
      }
    }
  }
  sections.push(
    "## Credentials",
    "",
    "Read by the providers in their configure step, never stored in resource state; set the secret ones with",
    "`pulumi config set --secret`.",
    "",
    "| key | meaning |",
    "| --- | --- |",
    ...Object.entries(credentialConfigKeys).map(([key, meaning]) => `| \`proxmox-hardening:${key}\` | ${meaning.replaceAll("|", "\\|")} |`),
    "",
  );
  return sections.join("\n");
}

export const CONFIG_REFERENCE_PATH = join(__dirname, "..", "docs", "CONFIG.md");

if (require.main === module) {
  writeFileSync(CONFIG_REFERENCE_PATH, renderConfigReference());
  process.stderr.write(`wrote ${CONFIG_REFERENCE_PATH}\n`);
}
