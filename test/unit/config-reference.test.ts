import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONFIG_REFERENCE_PATH, renderConfigReference } from "../../scripts/config-reference";

test("docs/CONFIG.md is what the schemas say (run scripts/config-reference.ts after changing a schema)", () => {
  assert.equal(readFileSync(CONFIG_REFERENCE_PATH, "utf8"), renderConfigReference());
});

test("the config reference lists every key with type, default and meaning", () => {
  const reference = renderConfigReference();
  for (const key of ["hosts[].hostKey", "ufw.defaults.incoming", "ufw.extraRules[].port", "fail2ban.defaults.bantime", "fail2ban.jails[].backend", "proxmoxFirewall.enable"]) {
    assert.ok(reference.includes(`| \`${key}\` | `), key);
  }
  assert.match(reference, /\| `ufw.defaults.incoming` \| "allow" \\\| "deny" \\\| "reject" \|  \| `"deny"` \|/);
  assert.match(reference, /`proxmox-hardening:sshPrivateKey`/);
  // No row without a meaning: every field is described in its schema.
  const undescribed = reference.split("\n").filter((line) => /^\| `[^`]+` \|/.test(line) && / \| $/.test(line) && !/^\| `proxmox-hardening:/.test(line));
  assert.deepEqual(undescribed, []);
});
