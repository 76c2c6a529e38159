import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { parseProgramConfig } from "../../providers/host/config";
import { legacyRuleName, ruleNames } from "../../providers/host/names";
import { credentialConfigKeys } from "../../providers/ssh/credentials";
import { allRules, clusterManagers } from "../../providers/host/schema";
import { UfwRule } from "../../providers/ufw/schema";

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ";
let nextAddress = 10;
const host = (name: string, extra: Record<string, unknown> = {}) => ({ name, address: `192.0.2.${nextAddress++}`, hostKey, ...extra });

test("defaults are exactly the reference procedure's values", () => {
  const config = parseProgramConfig({ hosts: [host("pve1")] }, "test");
  assert.equal(config.proxmoxFirewall.enable, false);
  assert.equal(config.ufw.enabled, true);
  assert.equal(config.ufw.defaults.incoming, "deny");
  assert.equal(config.ufw.defaults.outgoing, "allow");
  assert.deepEqual(
    allRules(config.ufw).map(({ rule }) => `${rule.action} ${rule.port}/${rule.protocol} from ${rule.from}`),
    ["allow 22/tcp from any", "allow 8006/tcp from any"],
  );
  assert.deepEqual([config.fail2ban.defaults.bantime, config.fail2ban.defaults.findtime, config.fail2ban.defaults.maxretry], [3600, 300, 3]);
  assert.deepEqual(config.fail2ban.jails.map((jail) => jail.name), ["sshd", "proxmox"]);
  assert.deepEqual(config.fail2ban.jails.find((jail) => jail.name === "proxmox")?.port, ["8006"]);
  assert.deepEqual(config.fail2ban.filters.map((filter) => filter.name), ["proxmox"]);
});

test("config errors name the host, the stack and the key, and say nothing was sent", () => {
  assert.throws(
    () => parseProgramConfig({ hosts: [host("pve1", { port: 70000 })] }, "prod"),
    (error: Error) =>
      /\[host pve1, resource stack prod config, field proxmox-hardening:hosts\[0\]\.port\]/.test(error.message) && /nothing was sent to any host/.test(error.message),
  );
  assert.throws(() => parseProgramConfig({ hosts: [] }, "prod"), /list at least one host/);
  assert.throws(() => parseProgramConfig({ hosts: [host("pve1")], colour: "blue" }, "prod"), /Unrecognized key/);
});

test("lockout: incoming deny without the SSH port allowed is refused for the host whose port it is", () => {
  assert.throws(
    () => parseProgramConfig({ hosts: [host("pve1", { port: 2222 })] }, "prod"),
    (error: Error) => /host pve1/.test(error.message) && /2222/.test(error.message) && /cut off/.test(error.message),
  );
  assert.throws(
    () => parseProgramConfig({ hosts: [host("pve1")], ufw: { rules: [{ action: "deny", protocol: "tcp", port: 22 }, { action: "allow", protocol: "tcp", port: 22, from: "198.51.100.0/24" }] } }, "prod"),
    /lock itself out|cut off/,
  );
  const limited = parseProgramConfig({ hosts: [host("pve1")], ufw: { rules: [{ action: "limit", protocol: "tcp", port: 22 }] } }, "prod");
  assert.equal(limited.ufw.rules[0].action, "limit");
  const off = parseProgramConfig({ hosts: [host("pve1", { port: 2222 })], ufw: { enabled: false } }, "prod");
  assert.equal(off.ufw.enabled, false);
});

test("duplicates are refused: hosts, rules with the same match, jails, filters", () => {
  assert.throws(() => parseProgramConfig({ hosts: [host("pve1"), { ...host("pve1"), address: "192.0.2.99" }] }, "p"), /host name repeats/);
  assert.throws(
    () => parseProgramConfig({ hosts: [host("pve1")], ufw: { extraRules: [{ action: "allow", protocol: "tcp", port: 22, comment: "again" }] } }, "p"),
    /same match as another rule/,
  );
  assert.throws(() => parseProgramConfig({ hosts: [host("pve1")], fail2ban: { jails: [{ name: "sshd" }, { name: "sshd" }] } }, "p"), /jail name repeats/);
  assert.throws(() => parseProgramConfig({ hosts: [host("pve1")], fail2ban: { jails: [{ name: "web", filter: { name: "nope" } }] } }, "p"), /filter nope/);
});

test("cluster preset adds the Proxmox cluster rules from the named network only", () => {
  const config = parseProgramConfig({ hosts: [host("pve1")], ufw: { clusterTraffic: { network: "198.51.100.0/24" } } }, "p");
  const rules = allRules(config.ufw).map(({ rule }) => `${rule.port}/${rule.protocol} from ${rule.from}`);
  assert.deepEqual(rules.slice(2), ["5405:5412/udp from 198.51.100.0/24", "60000:60050/tcp from 198.51.100.0/24", "5900:5999/tcp from 198.51.100.0/24", "3128/tcp from 198.51.100.0/24"]);
  assert.throws(() => parseProgramConfig({ hosts: [host("pve1")], ufw: { clusterTraffic: { network: "any" } } }, "p"), /not allowed/);
});

test("one cluster firewall resource per cluster, managed through its first host", () => {
  const config = parseProgramConfig(
    { hosts: [host("pve1", { cluster: "a" }), host("pve22", { cluster: "a" }), host("solo")], ufw: { clusterTraffic: { network: "192.0.2.0/24" } } },
    "p",
  );
  const managers = clusterManagers(config.hosts);
  assert.deepEqual([...managers.entries()].map(([cluster, manager]) => `${cluster}:${manager.name}`), ["a:pve1", "solo:solo"]);
});

test("rule names are stable, readable and ignore action and comment", () => {
  const ruleName = (rule: UfwRule) => ruleNames([rule])[0];
  const rule = UfwRule.parse({ action: "allow", protocol: "tcp", port: 22, comment: "ssh" });
  assert.equal(ruleName(rule), "in-tcp-22");
  assert.equal(ruleName({ ...rule, action: "limit", comment: undefined }), "in-tcp-22");
  const long = UfwRule.parse({ action: "allow", protocol: "tcp", port: "1,2,3,4,5,6,7,8,9,10,11,12", from: "2001:db8:aaaa:bbbb:cccc:dddd:eeee:0/112" });
  assert.ok(ruleName(long).length <= 60);
  assert.match(ruleName(long), /^[A-Za-z0-9_-]+$/);
  // A long name too: another comment or action is the same resource, updated in place (a new
  // name would create the rule anew, then the old resource's delete would take it off the node).
  assert.equal(ruleName(UfwRule.parse({ ...long, comment: "migration", action: "limit" })), ruleName(long));
  assert.notEqual(ruleName(UfwRule.parse({ ...long, port: "1,2,3" })), ruleName(long));
});

test("rule names the readable form would make equal are told apart by their match", () => {
  const [list, range] = [UfwRule.parse({ action: "allow", protocol: "tcp", port: "80,443" }), UfwRule.parse({ action: "allow", protocol: "tcp", port: "80:443" })];
  const names = ruleNames([list, range, UfwRule.parse({ action: "allow", protocol: "tcp", port: 22 })]);
  assert.equal(new Set(names).size, 3, names.join(" "));
  assert.match(names[0], /^in-tcp-80_443-[0-9a-f]{10}$/);
  assert.equal(names[2], "in-tcp-22", "a name nothing else has stays as it was");
  assert.deepEqual(ruleNames([list]), ["in-tcp-80_443"]);
});

test("a long rule's name from before its hash was of the match alone is kept as an alias", () => {
  const long = UfwRule.parse({ action: "allow", protocol: "tcp", port: "60000:60050", from: "2001:db8:1234:5678::/64", to: "2001:db8:1234:5678::10", comment: "migration" });
  // The earlier formula: the readable name cut at 48, then the hash of the whole rule.
  const readable = "in-tcp-60000_60050-from-2001_db8_1234_5678_64-to-2001_db8_1234_5678_10";
  const earlier = `${readable.slice(0, 48)}-${createHash("sha256").update(JSON.stringify(long)).digest("hex").slice(0, 10)}`;
  assert.equal(legacyRuleName(long), earlier);
  assert.notEqual(ruleNames([long])[0], earlier);
  assert.equal(legacyRuleName(UfwRule.parse({ action: "allow", protocol: "tcp", port: 22 })), undefined, "short names never changed");
});

test("the example Pulumi.prod.yaml passes every check preview makes (a team copies it)", () => {
  const { config } = parseYaml(readFileSync(join(__dirname, "..", "..", "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> };
  const program = Object.fromEntries(
    Object.entries(config)
      .filter(([key]) => key.startsWith("proxmox-hardening:") && !(key.slice("proxmox-hardening:".length) in credentialConfigKeys))
      .map(([key, value]) => [key.slice("proxmox-hardening:".length), value]),
  );
  const parsed = parseProgramConfig(program, "prod");
  assert.deepEqual(parsed.hosts.map((host) => host.cluster), ["pve-prod", "pve-prod"]);
});
