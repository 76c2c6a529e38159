// Schemas, rule rendering and ufw's stored tuples, checked against what the
// real ufw 0.36.2 did (test/fixtures/ufw, recorded by capture.sh).
import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { validate } from "../../providers/core/validate";
import { parseAddress } from "../../providers/ufw/address";
import {
  clusterTrafficRules,
  exactlyStored,
  findRuleTuples,
  parseUserRules,
  predictUserRules,
  ruleToArgs,
  ruleToDeleteArgs,
  ruleToTuples,
  tupleIdentity,
  UfwTuple,
} from "../../providers/ufw/logic";
import { normalizePortSpec, UfwActivation, UfwDefaults, UfwLockoutGuard, UfwRule, UfwRuleInput } from "../../providers/ufw/schema";
import { tupleLines, ufwRun, ufwState } from "../fixtures/ufw/fixtures";
import { formatTuple } from "../support/ufw-tuples";

const rule = (input: UfwRuleInput) => UfwRule.parse(input);

/** Every issue as "path: message", to assert on both. */
function issues(schema: z.ZodType, raw: unknown): string[] {
  const result = schema.safeParse(raw);
  assert.equal(result.success, false, `expected ${JSON.stringify(raw)} to be rejected`);
  return result.error!.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

// ------------------------------------------------------------------ schema: valid inputs

test("UfwRule fills defaults and normalizes to ufw's stored forms", () => {
  assert.deepEqual(rule({ action: "allow" }), { action: "allow", direction: "in", protocol: "any", from: "any", to: "any" });
  const cases: [UfwRuleInput, Partial<UfwRule>][] = [
    [{ action: "allow", protocol: "tcp", port: 22 }, { port: "22" }],
    [{ action: "allow", protocol: "tcp", port: "22" }, { port: "22" }],
    [{ action: "allow", protocol: "tcp", port: "60000:60050" }, { port: "60000:60050" }],
    // ufw sorts lists numerically; a single port before a range starting at it
    [{ action: "allow", protocol: "tcp", port: "443,80" }, { port: "80,443" }],
    [{ action: "allow", protocol: "udp", port: "5900:5999,22,5900" }, { port: "22,5900,5900:5999" }],
    [{ action: "allow", protocol: "tcp", port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15" }, { port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15" }],
    [{ action: "allow", protocol: "tcp", port: "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15" }, { port: "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15" }],
    [{ action: "allow", protocol: "any", port: 53 }, { port: "53" }],
    [{ action: "allow", from: "192.0.2.1/32" }, { from: "192.0.2.1" }],
    [{ action: "allow", from: "2001:DB8:0:0::1/128" }, { from: "2001:db8::1" }],
    [{ action: "allow", from: "2001:db8:0:0:1:0:0:1" }, { from: "2001:db8::1:0:0:1" }],
    [{ action: "allow", from: "0.0.0.0/0" }, { from: "0.0.0.0/0" }],
    [{ action: "allow", from: "::/0" }, { from: "::/0" }],
    [{ action: "allow", from: "10.0.0.0/8", to: "198.51.100.10" }, { from: "10.0.0.0/8", to: "198.51.100.10" }],
    [{ action: "allow", from: "any", to: "2001:db8::/32" }, { to: "2001:db8::/32" }],
    [{ action: "allow", interface: "vmbr0" }, { interface: "vmbr0" }],
    [{ action: "allow", interface: "eth0.100" }, { interface: "eth0.100" }],
    [{ action: "allow", interface: "fwbr+" }, { interface: "fwbr+" }],
    [{ action: "allow", interface: "abcdefghijklmno" }, { interface: "abcdefghijklmno" }],
    [{ action: "deny", direction: "out", interface: "vmbr1" }, { direction: "out", interface: "vmbr1" }],
    [{ action: "limit", protocol: "tcp", port: 22 }, { action: "limit" }],
    [{ action: "reject", comment: "allow ssh" }, { comment: "allow ssh" }],
    [{ action: "allow", comment: "proxmox: node-1 10.0.0.1/24 a+b=c 50% user@host_x" }, { comment: "proxmox: node-1 10.0.0.1/24 a+b=c 50% user@host_x" }],
    [{ action: "allow", comment: "x".repeat(100) }, { comment: "x".repeat(100) }],
  ];
  for (const [input, expected] of cases) {
    const parsed = rule(input);
    for (const [key, value] of Object.entries(expected)) assert.equal(parsed[key as keyof UfwRule], value, `${JSON.stringify(input)} → ${key}`);
  }
});

test("parseAddress canonicalizes like glibc inet_ntop (values from python's socket.inet_ntop)", () => {
  const canonical: [string, string][] = [
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["::2:3:4:5:6:7", "::2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["2001:DB8::0001", "2001:db8::1"],
    ["fe80::1:0:0", "fe80::1:0:0"],
    ["::1:0:0:0", "::1:0:0:0"],
    ["::ffff:1:2:3", "::ffff:1:2:3"],
    ["0:0:0:0:1:ffff:1:2", "::1:ffff:1:2"],
    ["::0:5", "::5"],
    ["192.0.2.0/24", "192.0.2.0/24"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["255.255.255.255", "255.255.255.255"],
  ];
  for (const [input, expected] of canonical) {
    const parsed = parseAddress(input);
    assert.ok(parsed.ok, input);
    assert.equal(parsed.address.canonical, expected, input);
  }
  const v6 = parseAddress("2001:db8::/32");
  assert.deepEqual(v6, { ok: true, address: { family: "v6", canonical: "2001:db8::/32", prefix: 32 } });
  const v4 = parseAddress("203.0.113.7");
  assert.deepEqual(v4, { ok: true, address: { family: "v4", canonical: "203.0.113.7", prefix: 32 } });
});

test("normalizePortSpec explains what is allowed", () => {
  assert.deepEqual(normalizePortSpec("22:25,80"), { ok: true, port: "22:25,80" });
  const reason = (raw: number | string) => {
    const result = normalizePortSpec(raw);
    assert.equal(result.ok, false, String(raw));
    return (result as { reason: string }).reason;
  };
  assert.match(reason(0), /port 0 is not a whole number from 1 to 65535; use a port 1-65535/);
  assert.match(reason("80:80"), /write the single port 80/);
  assert.match(reason("90:80"), /write it as 80:90/);
  assert.match(reason("1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16"), /uses 16 port slots; ufw allows at most 15 \(a range counts as two\)/);
  assert.match(reason("80,80"), /lists 80 twice/);
  assert.match(reason("ssh"), /service names are not accepted/);
});

// ------------------------------------------------------------------ schema: invalid and hostile inputs

test("UfwRule rejects invalid and hostile values with messages that say what is allowed", () => {
  const long = "a".repeat(5000);
  const table: [unknown, RegExp][] = [
    [{ action: "permit" }, /^action: action must be one of allow, deny, reject, limit \(got "permit"\)$/],
    [{}, /^action: action must be one of allow, deny, reject, limit/],
    [{ action: "allow", direction: "both" }, /^direction: direction must be one of in, out/],
    [{ action: "allow", protocol: "icmp" }, /^protocol: protocol must be one of tcp, udp, any/],
    [{ action: "allow", protocol: "tcp", port: 0 }, /^port: port 0 is not a whole number from 1 to 65535/],
    [{ action: "allow", protocol: "tcp", port: 65536 }, /^port: port 65536 is not a whole number/],
    [{ action: "allow", protocol: "tcp", port: 22.5 }, /^port: port 22.5 is not a whole number/],
    [{ action: "allow", protocol: "tcp", port: "0" }, /^port: port entry "0" in "0" is not valid/],
    [{ action: "allow", protocol: "tcp", port: "022" }, /^port: port entry "022"/],
    [{ action: "allow", protocol: "tcp", port: "65536" }, /^port: port entry "65536"/],
    [{ action: "allow", protocol: "tcp", port: "80," }, /^port: port entry "" in "80,"/],
    [{ action: "allow", protocol: "tcp", port: ",80" }, /^port: port entry "" in ",80"/],
    [{ action: "allow", protocol: "tcp", port: "1:2:3" }, /^port: port entry "1:2:3"/],
    [{ action: "allow", protocol: "tcp", port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16" }, /uses 16 port slots/],
    [{ action: "allow", protocol: "tcp", port: "22; rm -rf /" }, /^port: port "22; rm -rf \/" may only contain digits, ':' and ','/],
    [{ action: "allow", protocol: "tcp", port: "$(reboot)" }, /may only contain digits/],
    [{ action: "allow", protocol: "tcp", port: "22\n" }, /may only contain digits/],
    [{ action: "allow", protocol: "tcp", port: "80 443" }, /may only contain digits/],
    [{ action: "allow", protocol: "tcp", port: long }, /^port: port is 5000 characters long \(at most 100\)/],
    [{ action: "allow", protocol: "tcp", port: true }, /^port: port must be a number \(22\) or a string/],
    [{ action: "allow", port: "80,443" }, /^protocol: port 80,443 is a list or range, which ufw only accepts with protocol tcp or udp/],
    [{ action: "allow", port: "5900:5999" }, /^protocol: port 5900:5999 is a list or range/],
    [{ action: "limit", direction: "out" }, /^action: limit is only allowed with direction in/],
    [{ action: "allow", from: "10.0.0.256" }, /^from: "10.0.0.256" is not an IPv4 address \(e.g. 192.0.2.10\), IPv6 address/],
    [{ action: "allow", from: "010.0.0.1" }, /is not an IPv4 address/],
    [{ action: "allow", from: "10.0.0.5/24" }, /^from: "10.0.0.5\/24" has host bits set after the \/24 prefix; write the network as 10.0.0.0\/24/],
    [{ action: "allow", from: "2001:db8::5/32" }, /has host bits set after the \/32 prefix; write the network as 2001:db8::\/32/],
    [{ action: "allow", from: "10.0.0.0/33" }, /has prefix length "33"; use a number from 0 to 32/],
    [{ action: "allow", from: "10.0.0.0/255.255.255.0" }, /dotted netmasks are not accepted/],
    [{ action: "allow", from: "::ffff:1.2.3.4" }, /is not an IPv4 address/],
    [{ action: "allow", from: "::ffff:102:304" }, /IPv4-mapped or IPv4-compatible IPv6 address; write the IPv4 address instead/],
    [{ action: "allow", from: "fe80::1%eth0" }, /is not an IPv4 address/],
    [{ action: "allow", from: "2001:db8:::1" }, /is not an IPv4 address/],
    [{ action: "allow", from: "1:2:3:4:5:6:7:8:9" }, /is not an IPv4 address/],
    [{ action: "allow", from: "1:2:3:4:5:6:7::8" }, /is not an IPv4 address/],
    [{ action: "allow", from: "example.com" }, /is not an IPv4 address/],
    [{ action: "allow", from: "[::1]" }, /is not an IPv4 address/],
    [{ action: "allow", from: "any; reboot" }, /is not an IPv4 address/],
    [{ action: "allow", from: "" }, /is not an IPv4 address/],
    [{ action: "allow", to: long }, /^to: is 5000 characters long; an address or network has at most 43/],
    [{ action: "allow", to: 42 }, /^to: must be "any", an IPv4\/IPv6 address or a CIDR network$/],
    [{ action: "allow", from: "10.0.0.0/8", to: "2001:db8::1" }, /^to: from is IPv4 \(10.0.0.0\/8\) but to is IPv6 \(2001:db8::1\); a rule can only match one IP family/],
    [{ action: "allow", interface: "" }, /^interface: interface name is 0 characters long; Linux allows 1-15 characters/],
    [{ action: "allow", interface: "abcdefghijklmnop" }, /interface name is 16 characters long/],
    [{ action: "allow", interface: "eth0:1" }, /^interface: interface name "eth0:1" is not valid; use 1-15 characters/],
    [{ action: "allow", interface: "eth/0" }, /is not valid/],
    [{ action: "allow", interface: "eth 0" }, /is not valid/],
    [{ action: "allow", interface: "vmbr0;reboot" }, /is not valid/],
    [{ action: "allow", interface: "$(x)" }, /is not valid/],
    [{ action: "allow", interface: "vm`id`" }, /is not valid/],
    [{ action: "allow", interface: "a'b" }, /is not valid/],
    [{ action: "allow", interface: "a[0]" }, /is not valid/],
    [{ action: "allow", interface: "eth0\n" }, /is not valid/],
    [{ action: "allow", interface: "." }, /cannot be "." or ".."/],
    [{ action: "allow", interface: ".." }, /cannot be "." or ".."/],
    [{ action: "allow", interface: "-i" }, /cannot start with '-'/],
    [{ action: "allow", interface: "proto" }, /is a ufw keyword/],
    [{ action: "allow", interface: "IN" }, /is a ufw keyword/],
    [{ action: "allow", comment: "" }, /^comment: comment is empty; leave the field out instead$/],
    [{ action: "allow", comment: "x".repeat(101) }, /^comment: comment is 101 characters long; allowed: letters, digits, spaces/],
    [{ action: "allow", comment: "it's" }, /^comment: comment "it's" has characters that are not allowed; allowed: letters, digits/],
    [{ action: "allow", comment: 'say "hi"' }, /has characters that are not allowed/],
    [{ action: "allow", comment: "a\nb" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "a\tb" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "a\u0000b" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "x; rm -rf /" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "$(reboot)" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "`id`" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "a # b" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "[x]" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "a|b&c>d" }, /has characters that are not allowed/],
    [{ action: "allow", comment: "café" }, /has characters that are not allowed/],
    [{ action: "allow", comment: " lead" }, /cannot start or end with a space/],
    [{ action: "allow", comment: "trail " }, /cannot start or end with a space/],
    [{ action: "allow", comment: "-x" }, /cannot start with '-'/],
    [{ action: "allow", comment: "in" }, /is a ufw keyword and would be misparsed/],
    [{ action: "allow", comment: "OUT" }, /is a ufw keyword/],
    [{ action: "allow", ports: 22 }, /^: unknown field\(s\) ports in a ufw rule; allowed fields: action, direction, protocol, port, from, to, interface, comment$/],
    ["allow 22/tcp", /^: a ufw rule must be an object with fields: action, direction/],
    [null, /must be an object/],
  ];
  for (const [raw, expected] of table) {
    const found = issues(UfwRule, raw);
    assert.ok(
      found.some((message) => expected.test(message)),
      `${JSON.stringify(raw)}: expected an issue matching ${expected}, got ${JSON.stringify(found)}`,
    );
  }
});

test("validate() reports rule failures with host, resource and field", () => {
  const checked = validate(UfwRule, { action: "allow", protocol: "tcp", port: "22;reboot" }, { host: "pve1", resource: "ufw-rule ssh" });
  assert.equal(checked.ok, false);
  if (checked.ok) return;
  assert.equal(checked.failures.length, 1);
  assert.equal(checked.failures[0].property, "port");
  assert.match(checked.failures[0].reason, /^\[host pve1, resource ufw-rule ssh, field port\] port "22;reboot" may only contain digits/);
});

test("UfwDefaults, UfwActivation and UfwLockoutGuard defaults and rejections", () => {
  // routed is decided on the node when left out (routedPolicyFor); logging stays unmanaged unless given
  assert.deepEqual(UfwDefaults.parse({}), { incoming: "deny", outgoing: "allow", allowForwardDeny: false });
  assert.deepEqual(UfwDefaults.parse({ routed: "reject", logging: "medium", allowForwardDeny: true }), {
    incoming: "deny",
    outgoing: "allow",
    routed: "reject",
    logging: "medium",
    allowForwardDeny: true,
  });
  assert.deepEqual(UfwActivation.parse({}), { enabled: true });
  assert.deepEqual(UfwLockoutGuard.parse({}), { sshPort: 22 });
  assert.deepEqual(UfwLockoutGuard.parse({ sshPort: 2222, sshAddressFamily: "v6" }), { sshPort: 2222, sshAddressFamily: "v6" });

  assert.deepEqual(issues(UfwDefaults, { incoming: "drop" }), ['incoming: incoming must be one of allow, deny, reject (got "drop")']);
  assert.deepEqual(issues(UfwDefaults, { logging: "verbose" }), ['logging: logging must be one of off, on, low, medium, high, full (got "verbose")']);
  assert.deepEqual(issues(UfwDefaults, { forward: "deny" }), [
    ": unknown field(s) forward in ufw defaults; allowed fields: incoming, outgoing, routed, logging, allowForwardDeny",
  ]);
  assert.deepEqual(issues(UfwActivation, { enabled: "yes" }), ["enabled: enabled must be true or false"]);
  assert.deepEqual(issues(UfwLockoutGuard, { sshPort: 70000 }), ["sshPort: must be a port number from 1 to 65535"]);
  assert.deepEqual(issues(UfwLockoutGuard, { sshPort: "22" }), ["sshPort: must be a port number from 1 to 65535"]);
  assert.deepEqual(issues(UfwLockoutGuard, { sshAddressFamily: "ipv4" }), ['sshAddressFamily: sshAddressFamily must be one of v4, v6 (got "ipv4")']);
});

test("the config reference can be generated: every field described, defaults shown, unknown keys refused", () => {
  for (const schema of [UfwRule, UfwDefaults, UfwActivation, UfwLockoutGuard]) {
    const json = z.toJSONSchema(schema, { io: "input" }) as { description?: string; properties: Record<string, { description?: string }>; additionalProperties: boolean };
    assert.ok(json.description, "schema description");
    assert.equal(json.additionalProperties, false);
    for (const [field, property] of Object.entries(json.properties)) assert.ok(property.description, `${field} has a description`);
  }
  const rules = z.toJSONSchema(UfwRule, { io: "input" }) as { properties: Record<string, { default?: unknown }>; required: string[] };
  assert.deepEqual(rules.required, ["action"]);
  assert.equal(rules.properties.direction.default, "in");
  assert.equal(rules.properties.protocol.default, "any");
  assert.equal(rules.properties.from.default, "any");
});

// ------------------------------------------------------------------ argv

test("ruleToArgs uses ufw's full syntax; ruleToDeleteArgs leaves the comment out", () => {
  const ssh = rule({ action: "allow", interface: "vmbr0", protocol: "tcp", port: 22, comment: "allow ssh" });
  assert.deepEqual(ruleToArgs(ssh), ["allow", "in", "on", "vmbr0", "proto", "tcp", "from", "any", "to", "any", "port", "22", "comment", "allow ssh"]);
  assert.deepEqual(ruleToDeleteArgs(ssh), ["delete", "allow", "in", "on", "vmbr0", "proto", "tcp", "from", "any", "to", "any", "port", "22"]);
  assert.deepEqual(ruleToArgs(rule({ action: "deny", from: "203.0.113.7" })), ["deny", "in", "proto", "any", "from", "203.0.113.7", "to", "any"]);
  assert.deepEqual(ruleToArgs(rule({ action: "allow", direction: "out", interface: "vmbr1", protocol: "udp", to: "2001:db8::/32", port: 53 })), [
    "allow", "out", "on", "vmbr1", "proto", "udp", "from", "any", "to", "2001:db8::/32", "port", "53",
  ]);
});

// ------------------------------------------------------------------ against the real ufw

/** The rules capture.sh adds in phase a, in order, keyed by run name. */
const FIXTURE_RULES: [string, UfwRuleInput][] = [
  ["ssh", { action: "allow", protocol: "tcp", port: 22, comment: "allow ssh" }],
  ["ssh-limit", { action: "limit", protocol: "tcp", port: 2222, comment: "ssh rate limit" }],
  ["webui-vmbr0", { action: "allow", interface: "vmbr0", protocol: "tcp", from: "192.0.2.0/24", port: 8006, comment: "pve web ui" }],
  ["web-list", { action: "allow", protocol: "tcp", port: "443,80" }],
  ["smtp-reject", { action: "reject", protocol: "tcp", port: 25 }],
  ["smtp-out-deny", { action: "deny", direction: "out", protocol: "tcp", port: 25 }],
  ["dns-out-v6", { action: "allow", direction: "out", interface: "vmbr1", protocol: "udp", to: "2001:db8::/32", port: 53, comment: "dns v6 upstream" }],
  ["ssh-v6-net", { action: "allow", protocol: "tcp", from: "2001:db8:1::/48", port: 22, comment: "ops v6" }],
  ["block-host", { action: "deny", from: "203.0.113.7" }],
  ["dns-any", { action: "allow", port: 53 }],
  ["https-to-host", { action: "allow", protocol: "tcp", to: "198.51.100.10", port: 443 }],
  ["corosync", { action: "allow", protocol: "udp", from: "10.10.10.0/24", port: "5405:5412", comment: "proxmox corosync" }],
  ["migration", { action: "allow", protocol: "tcp", from: "10.10.10.0/24", port: "60000:60050", comment: "proxmox live migration" }],
  ["vnc", { action: "allow", protocol: "tcp", from: "10.10.10.0/24", port: "5900:5999", comment: "proxmox vnc console" }],
  ["spice", { action: "allow", protocol: "tcp", from: "10.10.10.0/24", port: 3128, comment: "proxmox spice proxy" }],
];
const fixtureRules = FIXTURE_RULES.map(([name, input]) => ({ name, rule: rule(input) }));

const stored = (snapshot: string) => ({
  v4: parseUserRules(ufwState(snapshot, "user.rules"), "v4"),
  v6: parseUserRules(ufwState(snapshot, "user6.rules"), "v6"),
});

test("ruleToArgs reproduces the exact argv that ufw accepted for every fixture rule", () => {
  for (const { name, rule: fixture } of fixtureRules) {
    const run = ufwRun(`a-add-${name}`);
    assert.equal(run.rc, 0, name);
    assert.equal(run.stderr, "", name);
    assert.deepEqual(ruleToArgs(fixture), run.argv, name);
  }
});

test("ruleToTuples predicts every tuple ufw wrote, in both files and in order", () => {
  const written = stored("a-rules-inactive");
  assert.deepEqual(predictUserRules({ v4: [], v6: [] }, fixtureRules.map((entry) => entry.rule)), written);
  // and textually: formatTuple gives the very lines ufw wrote
  const expectedLines = (family: "v4" | "v6") =>
    fixtureRules.flatMap((entry) => ruleToTuples(entry.rule).filter((tuple) => tuple.family === family).map(formatTuple));
  assert.deepEqual(expectedLines("v4"), tupleLines(ufwState("a-rules-inactive", "user.rules")));
  assert.deepEqual(expectedLines("v6"), tupleLines(ufwState("a-rules-inactive", "user6.rules")));
  // spot checks of the families: "any" gives both, an address gives its own
  const byName = Object.fromEntries(fixtureRules.map((entry) => [entry.name, entry.rule]));
  assert.deepEqual(ruleToTuples(byName.ssh).map(formatTuple), [
    "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=616c6c6f7720737368",
    "allow tcp 22 ::/0 any ::/0 in comment=616c6c6f7720737368",
  ]);
  assert.deepEqual(ruleToTuples(byName["webui-vmbr0"]).map(formatTuple), [
    "allow tcp 8006 0.0.0.0/0 any 192.0.2.0/24 in_vmbr0 comment=70766520776562207569",
  ]);
  assert.deepEqual(ruleToTuples(byName["dns-out-v6"]).map(formatTuple), [
    "allow udp 53 2001:db8::/32 any ::/0 out_vmbr1 comment=646e7320763620757073747265616d",
  ]);
});

test("ufw sorts port lists before storing, as the schema does", () => {
  const run = ufwRun("b-port-list-sorted");
  assert.deepEqual(run.argv.slice(-2), ["port", "443,80,22"]);
  const sorted = rule({ action: "allow", protocol: "tcp", port: "443,80,22" });
  const [v4] = ruleToTuples(sorted);
  assert.equal(formatTuple(v4), tupleLines(ufwState("b-after-errors", "user.rules")).at(-1));
  assert.equal(formatTuple(v4), "allow tcp 22,80,443 0.0.0.0/0 any 0.0.0.0/0 in");
});

test("IPV6=no: a rule for any address only reaches user.rules, an IPv6 rule is refused", () => {
  const ssh = fixtureRules[0].rule;
  assert.deepEqual(ruleToTuples(ssh, { ipv6: false }), stored("c-ipv6-no").v4);
  assert.deepEqual(tupleLines(ufwState("c-ipv6-no", "user6.rules")), []);
  const refused = ufwRun("c-add-ssh-v6-net");
  assert.equal(refused.rc, 1);
  assert.equal(refused.stderr, "ERROR: IPv6 support not enabled\n");
});

test("the schema refuses what the real ufw refuses", () => {
  const pairs: [string, UfwRuleInput, RegExp, string][] = [
    ["b-err-ports-without-proto", { action: "allow", port: "80,443" }, /protocol tcp or udp/, "ERROR: Must specify 'tcp' or 'udp' with multiple ports\n"],
    ["b-err-range-without-proto", { action: "allow", port: "5900:5999" }, /protocol tcp or udp/, "ERROR: Must specify 'tcp' or 'udp' with multiple ports\n"],
    ["b-err-mixed-families", { action: "allow", protocol: "tcp", from: "10.0.0.0/8", to: "2001:db8::1", port: 22 }, /one IP family/, "ERROR: Mixed IP versions for 'from' and 'to'\n"],
    ["b-err-too-many-ports", { action: "allow", protocol: "tcp", port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16" }, /at most 15/, "ERROR: Bad port '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16'\n"],
    ["b-err-range-reversed", { action: "allow", protocol: "tcp", port: "600:500" }, /low to high/, "ERROR: Bad port '600:500'\n"],
    ["b-err-port-zero", { action: "allow", protocol: "tcp", port: 0 }, /not a whole number/, "ERROR: Bad port '0'\n"],
    ["b-err-comment-quote", { action: "allow", protocol: "tcp", port: 22, comment: "it's" }, /not allowed/, "ERROR: Invalid syntax\n"],
    ["b-err-comment-is-keyword", { action: "allow", protocol: "tcp", port: 22, comment: "in" }, /ufw keyword/, "ERROR: Invalid interface clause\n"],
    ["b-err-interface-alias", { action: "allow", interface: "eth0:1", protocol: "tcp", port: 22 }, /not valid/, "ERROR: Bad interface name: can't use interface aliases\n"],
    ["b-err-interface-keyword", { action: "allow", interface: "proto", protocol: "tcp", port: 22 }, /ufw keyword/, "ERROR: Improper rule syntax\n"],
    ["b-err-bad-address", { action: "allow", protocol: "tcp", from: "10.0.0.256", port: 22 }, /not an IPv4 address/, "ERROR: Bad source address\n"],
  ];
  for (const [run, input, ours, theirs] of pairs) {
    const recorded = ufwRun(run);
    assert.equal(recorded.rc, 1, run);
    assert.equal(recorded.stderr, theirs, run);
    assert.ok(issues(UfwRule, input).some((message) => ours.test(message)), run);
  }
  // ufw quietly rewrites IPv4 host bits (and keeps IPv6 ones); the schema refuses both
  assert.equal(ufwRun("b-warn-host-bits").stderr, "WARN: Rule changed after normalization\n");
  assert.ok(tupleLines(ufwState("b-after-errors", "user.rules")).includes("allow tcp 22 0.0.0.0/0 any 10.0.0.0/24 in"));
  assert.ok(tupleLines(ufwState("b-after-errors", "user6.rules")).includes("allow tcp 22 ::/0 any 2001:db8::5/32 in"));
  // ufw accepts "limit out"; the schema refuses it by choice
  assert.equal(ufwRun("b-limit-out-accepted").rc, 0);
  assert.ok(issues(UfwRule, { action: "limit", direction: "out", protocol: "tcp", port: 22 }).some((message) => /only allowed with direction in/.test(message)));
});

test("adding an existing rule is skipped with exit code 0; the same match with a new comment or action is updated in place", () => {
  const skip = "Skipping adding existing rule\nSkipping adding existing rule (v6)\n";
  for (const name of ["a-add-ssh-again", "a-add-existing-while-active", "b-short-allow-22-tcp-again", "b-full-allow-22-tcp-again"]) {
    const run = ufwRun(name);
    assert.equal(run.rc, 0, name);
    assert.equal(run.stdout, skip, name);
  }
  assert.deepEqual(ufwRun("b-short-allow-22-tcp").argv, ["allow", "22/tcp"]);
  assert.equal(ufwRun("a-add-ssh-new-comment").stdout, "Rules updated\nRules updated (v6)\n");
  assert.equal(ufwRun("a-add-new-comment-while-active").stdout, "Rule updated\nRule updated (v6)\n");
  assert.equal(ufwRun("a-add-while-active").stdout, "Rule added\n");

  // predictUserRules models this: same position, new comment / action
  const before = stored("a-rules-inactive");
  const changed = [
    rule({ action: "allow", protocol: "tcp", port: 22, comment: "ssh v2" }),
    rule({ action: "deny", protocol: "tcp", port: 25 }),
  ];
  assert.deepEqual(ufwRun("a-add-ssh-new-comment").argv, ruleToArgs(changed[0]));
  assert.deepEqual(ufwRun("a-add-smtp-as-deny").argv, ruleToArgs(changed[1]));
  assert.deepEqual(predictUserRules(before, changed), stored("a-updated-in-place"));
});

test("deleting: without the comment works; with another comment matches nothing, still exit code 0", () => {
  const ssh = fixtureRules[0].rule;
  const deleted = ufwRun("a-delete-ssh-without-comment");
  assert.deepEqual(deleted.argv, ruleToDeleteArgs(ssh));
  assert.deepEqual([deleted.rc, deleted.stdout], [0, "Rules updated\nRules updated (v6)\n"]);
  const missing = ufwRun("a-delete-ssh-missing");
  assert.deepEqual([missing.rc, missing.stdout], [0, "Could not delete non-existent rule\nCould not delete non-existent rule (v6)\n"]);
  const otherComment = ufwRun("a-delete-with-other-comment");
  assert.deepEqual([otherComment.rc, otherComment.stdout], [0, "Could not delete non-existent rule (v6)\n"]);
  const whileActive = ufwRun("a-delete-while-active");
  assert.deepEqual([whileActive.rc, whileActive.stdout], [0, "Rule deleted\n"]);
  assert.deepEqual(whileActive.argv, ruleToDeleteArgs(rule({ action: "allow", protocol: "tcp", from: "10.10.10.0/24", port: 9100, comment: "node exporter" })));
});

test("exactlyStored adopts exactly stored rules; findRuleTuples shows what differs", () => {
  const { v4, v6 } = stored("a-rules-inactive");
  for (const { name, rule: fixture } of fixtureRules) assert.equal(exactlyStored(findRuleTuples(fixture, v4, v6)), true, name);

  const renamed = rule({ action: "allow", protocol: "tcp", port: 22, comment: "ssh v2" });
  assert.equal(exactlyStored(findRuleTuples(renamed, v4, v6)), false);
  const matches = findRuleTuples(renamed, v4, v6);
  assert.deepEqual(matches.map((match) => match.found?.comment), ["allow ssh", "allow ssh"]);
  assert.deepEqual(matches.map((match) => match.expected.family), ["v4", "v6"]);

  const absent = rule({ action: "allow", protocol: "tcp", port: 2022 });
  assert.equal(exactlyStored(findRuleTuples(absent, v4, v6)), false);
  assert.deepEqual(findRuleTuples(absent, v4, v6).map((match) => match.found), [undefined, undefined]);

  // v4 half present, v6 half missing: not present
  assert.equal(exactlyStored(findRuleTuples(fixtureRules[0].rule, v4, [])), false);
  // with IPV6=no only the v4 half is needed
  assert.equal(exactlyStored(findRuleTuples(fixtureRules[0].rule, v4, [], { ipv6: false })), true);
});

test("parseUserRules reads rules this program never writes (apps, log options, route, source port, esp, UTF-8 comment)", () => {
  const v4 = parseUserRules(ufwState("d-foreign", "user.rules"), "v4");
  const base: UfwTuple = {
    family: "v4", action: "allow", log: "", route: false, protocol: "tcp", dport: "any", dst: "0.0.0.0/0", sport: "any", src: "0.0.0.0/0",
    dapp: "", sapp: "", direction: "in", interfaceIn: "", interfaceOut: "", comment: "",
  };
  assert.deepEqual(v4, [
    { ...base, dport: "80,443", dapp: "WWW Full" },
    { ...base, action: "deny", log: "log", dport: "2222" },
    { ...base, log: "log-all", dport: "8006", interfaceIn: "vmbr0" },
    { ...base, route: true, dport: "80", interfaceIn: "vmbr0", interfaceOut: "eth0" },
    { ...base, dport: "22", sport: "1024:2000" },
    { ...base, protocol: "esp", src: "10.0.0.1" },
    { ...base, dport: "9000", comment: "café ü" },
  ]);
  assert.equal(parseUserRules(ufwState("d-foreign", "user6.rules"), "v6")[0].dst, "::/0");
});

test("formatTuple writes back every tuple line of every captured file byte for byte", () => {
  const snapshots = ["a-rules-inactive", "a-updated-in-place", "a-active", "a-custom-defaults", "a-disabled", "b-short-form", "b-after-errors", "c-ipv6-no", "d-foreign"];
  let lines = 0;
  for (const snapshot of snapshots) {
    for (const [file, family] of [["user.rules", "v4"], ["user6.rules", "v6"]] as const) {
      const text = ufwState(snapshot, file);
      assert.deepEqual(parseUserRules(text, family).map(formatTuple), tupleLines(text), `${snapshot}/${file}`);
      lines += tupleLines(text).length;
    }
  }
  assert.ok(lines > 80, `round-tripped ${lines} lines`);
  assert.deepEqual(parseUserRules(ufwState("a-pristine", "user.rules"), "v4"), []);
});

test("parseUserRules skips malformed tuple lines, as ufw does", () => {
  const text = [
    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### allow tcp 22",
    "### tuple ### permit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### allow_loud tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 sideways",
    "### tuple ### allow tcp 23 0.0.0.0/0 any 0.0.0.0/0",
    "-A ufw-user-input -p tcp --dport 22 -j ACCEPT",
    "### tuple ### allow tcp 24 0.0.0.0/0 any 0.0.0.0/0 in comment=6",
  ].join("\n");
  const parsed = parseUserRules(text, "v4");
  // the 6-field pre-0.30 form reads as direction "in"; an odd hex nibble is dropped
  assert.deepEqual(parsed.map((tuple) => [tuple.dport, tuple.direction, tuple.comment]), [["22", "in", ""], ["23", "in", ""], ["24", "in", ""]]);
});

test("tupleIdentity ignores action, log option and comment, like ufw's own rule match", () => {
  const [a] = parseUserRules("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=61", "v4");
  const [b] = parseUserRules("### tuple ### deny_log tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "v4");
  const [c] = parseUserRules("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0", "v4");
  const [d] = parseUserRules("### tuple ### allow tcp 22 ::/0 any ::/0 in", "v6");
  assert.equal(tupleIdentity(a), tupleIdentity(b));
  assert.notEqual(tupleIdentity(a), tupleIdentity(c));
  assert.notEqual(tupleIdentity(a), tupleIdentity({ ...d, dst: "0.0.0.0/0", src: "0.0.0.0/0" }));
});

test("clusterTrafficRules gives the argv ufw accepted for the Proxmox cluster ports", () => {
  const rules = clusterTrafficRules("10.10.10.0/24");
  assert.deepEqual(
    rules.map(ruleToArgs),
    ["corosync", "migration", "vnc", "spice"].map((name) => ufwRun(`a-add-${name}`).argv),
  );
  assert.deepEqual(
    rules.map((entry) => [entry.protocol, entry.port, entry.from, entry.comment]),
    [
      ["udp", "5405:5412", "10.10.10.0/24", "proxmox corosync"],
      ["tcp", "60000:60050", "10.10.10.0/24", "proxmox live migration"],
      ["tcp", "5900:5999", "10.10.10.0/24", "proxmox vnc console"],
      ["tcp", "3128", "10.10.10.0/24", "proxmox spice proxy"],
    ],
  );
  assert.deepEqual(clusterTrafficRules("fd00:10::/64").map((entry) => entry.from), Array(4).fill("fd00:10::/64"));
  assert.throws(() => clusterTrafficRules("any"), /clusterNetwork "any": "any" is not allowed here/);
  // "any" spelt as a network: corosync, migration and consoles open to the whole internet
  for (const anywhere of ["0.0.0.0/0", "::/0", "0::/0"]) assert.throws(() => clusterTrafficRules(anywhere), new RegExp(`clusterNetwork "${anywhere.replace(/[.:/]/g, "\\$&")}": .* means every address, like "any", which is not allowed here`));
  assert.throws(() => clusterTrafficRules("10.10.10.5/24"), /write the network as 10.10.10.0\/24/);
  assert.throws(() => clusterTrafficRules("10.10.10.0/24; reboot"), /has prefix length "24; reboot"; use a number from 0 to 32/);
});
