// Lockout and guest-network guards, commands for defaults/activation, diff metadata.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  activationArgs,
  defaultsArgs,
  routedPolicyFor,
  describeTuple,
  forwardPolicyProblem,
  LockoutInput,
  lockoutProblems,
  loggingSatisfied,
  parseUfwConf,
  parseDefaultsFile,
  parseUserRules,
  portSpecCovers,
  sshRestrictedTo,
  UFW_RULE_REPLACE_KEYS,
} from "../../providers/ufw/logic";
import { UfwDefaults, UfwRule, UfwRuleInput } from "../../providers/ufw/schema";
import { ufwState } from "../fixtures/ufw/fixtures";

const rule = (input: UfwRuleInput) => UfwRule.parse(input);
const allowSsh = rule({ action: "allow", protocol: "tcp", port: 22 });
const denySsh = rule({ action: "deny", protocol: "tcp", port: 22 });

const guard = (overrides: Partial<LockoutInput>): string[] =>
  lockoutProblems({ defaults: { incoming: "deny" }, rules: [], activation: { enabled: true }, sshPort: 22, ...overrides });

test("lockout: enabling with incoming deny and no SSH rule is refused for each IP family", () => {
  const problems = guard({});
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^ufw would be active with incoming policy "deny" and no IPv4 rule allowing tcp port 22: /);
  assert.match(problems[1], /no IPv6 rule allowing tcp port 22/);
  assert.match(problems[0], /Add a rule \{ action: "allow" \(or "limit"\), protocol: "tcp", port: 22 \}/);
  assert.match(guard({ defaults: { incoming: "reject" } })[0], /incoming policy "reject"/);
  // not enabling, or allowing by default: nothing to fear
  assert.deepEqual(guard({ activation: { enabled: false } }), []);
  assert.deepEqual(guard({ defaults: { incoming: "allow" } }), []);
});

test("lockout: which rules count as keeping SSH open", () => {
  const open: UfwRuleInput[] = [
    { action: "allow", protocol: "tcp", port: 22 },
    { action: "limit", protocol: "tcp", port: 22 },
    { action: "allow", protocol: "any", port: 22 },
    { action: "allow", protocol: "tcp", port: "20:30" },
    { action: "allow", protocol: "tcp", port: "80,22,443" },
    { action: "allow" },
  ];
  for (const input of open) assert.deepEqual(guard({ rules: [rule(input)] }), [], JSON.stringify(input));
  // restricted to a management network: accepted before the source is known (it is judged on the host),
  // for the family it is in; the program reaching the host over IPv6 would still be cut off
  const management = rule({ action: "allow", protocol: "tcp", port: 22, from: "10.0.0.0/8" });
  assert.deepEqual(guard({ rules: [management], sshAddressFamily: "v4" }), []);
  assert.match(guard({ rules: [management] }).join(), /no IPv6 rule allowing tcp port 22/);

  const closed: UfwRuleInput[] = [
    { action: "allow", protocol: "udp", port: 22 },
    { action: "allow", protocol: "tcp", port: 2222 },
    { action: "allow", protocol: "tcp", port: 22, to: "198.51.100.10" },
    { action: "allow", protocol: "tcp", port: 22, interface: "vmbr0" },
    { action: "allow", direction: "out", protocol: "tcp", port: 22 },
  ];
  for (const input of closed) assert.equal(guard({ rules: [rule(input)], sshAddressFamily: "v4" }).length, 1, JSON.stringify(input));
  // the guard follows the SSH port
  assert.equal(guard({ rules: [allowSsh], sshPort: 2222 }).length, 2);
  assert.deepEqual(guard({ rules: [rule({ action: "allow", protocol: "tcp", port: 2222 })], sshPort: 2222 }), []);
});

test("lockout with the connection's source known: SSH from a management network", () => {
  const management = rule({ action: "allow", protocol: "tcp", port: 22, from: "10.20.0.0/16", comment: "admins" });
  const sshSource = { client: "10.20.3.4", server: "198.51.100.10" };
  assert.deepEqual(guard({ rules: [management], sshSource }), []);
  const outside = guard({ rules: [management], sshSource: { ...sshSource, client: "203.0.113.9" } });
  assert.equal(outside.length, 1);
  assert.match(outside[0], /comes from 203\.0\.113\.9 \(as the host sees it, connected to 198\.51\.100\.10 port 22\)/);
  assert.match(outside[0], /no rule allows it and the incoming policy is "deny"/);
  assert.match(outside[0], /contains 203\.0\.113\.9/);
  // a deny for that source before the allow still locks out; a deny for others does not
  assert.match(guard({ rules: [rule({ action: "deny", protocol: "tcp", port: 22, from: "10.20.3.0/24" }), management], sshSource })[0], /rule 1 .* denies it first/);
  assert.deepEqual(guard({ rules: [rule({ action: "deny", protocol: "tcp", port: 22, from: "10.99.0.0/16" }), management], sshSource }), []);
  // IPv6 source against IPv4-only rules
  assert.equal(guard({ rules: [management], sshSource: { client: "2001:db8::5", server: "2001:db8::1" } }).length, 1);
  assert.match(guard({ rules: [allowSsh], ipv6: false, sshSource: { client: "2001:db8::5", server: "2001:db8::1" } })[0], /IPV6=no/);
  // the preview note lists the sources SSH is restricted to, and nothing when it is open to all
  assert.deepEqual(sshRestrictedTo({ defaults: { incoming: "deny" }, rules: [management], activation: { enabled: true }, sshPort: 22 }), ["10.20.0.0/16"]);
  assert.deepEqual(sshRestrictedTo({ defaults: { incoming: "deny" }, rules: [allowSsh], activation: { enabled: true }, sshPort: 22 }), []);
});

test("lockout: ufw is first-match, so a deny before the allow locks out; after it, it does not", () => {
  const denyAnyProto = rule({ action: "deny", protocol: "any", port: 22 });
  const problems = guard({ rules: [denyAnyProto, allowSsh] });
  assert.equal(problems.length, 2);
  assert.match(
    problems[0],
    /^IPv4 rule 1 \(deny in proto any from any to any port 22\) would deny SSH on tcp port 22 from anywhere, and ufw applies the first matching rule/,
  );
  assert.match(guard({ rules: [rule({ action: "reject", protocol: "any" }), allowSsh], sshAddressFamily: "v6" })[0], /^IPv6 rule 1 .* would reject SSH/);
  assert.deepEqual(guard({ rules: [allowSsh, denyAnyProto] }), []);
  // same match, other action: ufw replaces the earlier rule in place, so the last one wins
  assert.deepEqual(guard({ rules: [denySsh, allowSsh] }), []);
  assert.match(guard({ rules: [allowSsh, denySsh], sshAddressFamily: "v4" })[0], /^IPv4 rule 1 \(deny in proto tcp from any to any port 22\) would deny SSH/);
  // a deny on SSH also matters when the default lets everything in
  assert.equal(guard({ rules: [denySsh], defaults: { incoming: "allow" } }).length, 2);
  // narrower denies do not block everyone
  assert.deepEqual(guard({ rules: [rule({ action: "deny", from: "203.0.113.7" }), allowSsh] }), []);
});

test("lockout: the IP family of the program's connection", () => {
  const v4Only = rule({ action: "allow", protocol: "tcp", port: 22, from: "0.0.0.0/0" });
  assert.deepEqual(guard({ rules: [v4Only], sshAddressFamily: "v4" }), []);
  assert.deepEqual(guard({ rules: [v4Only] }).map((problem) => /no (IPv\d) rule/.exec(problem)?.[1]), ["IPv6"]);
  // IPV6=no: v6 is not filtered by rules at all, but dropped entirely
  assert.deepEqual(guard({ rules: [v4Only], ipv6: false }), []);
  assert.deepEqual(guard({ rules: [allowSsh], ipv6: false, sshAddressFamily: "v6" }), [
    "the program reaches the host over IPv6, but /etc/default/ufw has IPV6=no, so an active ufw drops all IPv6 traffic except loopback; set IPV6=yes on the host or connect over IPv4",
  ]);
});

test("lockout: rules already on the host come first, and a re-added match keeps its place", () => {
  const stored = (snapshot: string) => ({
    v4: parseUserRules(ufwState(snapshot, "user.rules"), "v4"),
    v6: parseUserRules(ufwState(snapshot, "user6.rules"), "v6"),
  });
  // the captured active host allows ssh; nothing else needed
  assert.deepEqual(guard({ existing: stored("a-active") }), []);
  // a source-port-restricted allow on 22 (d-foreign) does not count
  assert.equal(guard({ existing: stored("d-foreign") }).length, 2);

  const hostile = { v4: parseUserRules("### tuple ### deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "v4"), v6: [] };
  const problems = guard({ existing: hostile, rules: [rule({ action: "allow", protocol: "any", port: 22 })], sshAddressFamily: "v4" });
  assert.match(problems[0], /^IPv4 rule 1 \(deny in proto tcp from any to any port 22\) would deny SSH/);
  // the program's allow has the same match as the stored deny: ufw replaces it in place
  assert.deepEqual(guard({ existing: hostile, rules: [allowSsh], sshAddressFamily: "v4" }), []);
});

test("forwardPolicyProblem refuses a routed deny while bridge netfilter is on or unknown, unless opted in", () => {
  const on = forwardPolicyProblem({ routed: "deny", bridgeNfCallIptables: true, allowForwardDeny: false });
  assert.match(on!, /^routed policy "deny" with bridge netfilter on \(net.bridge.bridge-nf-call-iptables = 1\): bridged guest traffic passes iptables' FORWARD chain, so every VM's and container's new connections would be dropped/);
  assert.match(on!, /set allowForwardDeny: true if/);
  const unknown = forwardPolicyProblem({ routed: "reject", bridgeNfCallIptables: undefined, allowForwardDeny: false });
  assert.match(unknown!, /^routed policy "reject" while bridge netfilter is unknown .* the Proxmox firewall loads it as soon as a guest NIC has firewall=1/);
  assert.equal(forwardPolicyProblem({ routed: "deny", bridgeNfCallIptables: false, allowForwardDeny: false }), undefined);
  assert.equal(forwardPolicyProblem({ routed: "deny", bridgeNfCallIptables: true, allowForwardDeny: true }), undefined);
  assert.equal(forwardPolicyProblem({ routed: "allow", bridgeNfCallIptables: true, allowForwardDeny: false }), undefined);
});

test("defaultsArgs changes only what differs, from the parsed files", () => {
  const current = {
    defaults: parseDefaultsFile(ufwState("a-pristine", "default-ufw")).defaults,
    logging: parseUfwConf(ufwState("a-pristine", "ufw.conf")).logging,
  };
  // the defaults on a fresh Debian ufw: nothing, as the routed policy left out is decided on the node (routedPolicyFor)
  assert.deepEqual(defaultsArgs(UfwDefaults.parse({}), current), []);
  // where bridge netfilter is on: the routed policy, which Debian ships as deny, so that bridged guests keep their network
  assert.deepEqual(defaultsArgs({ ...UfwDefaults.parse({}), routed: routedPolicyFor(undefined, true) }, current), [["default", "allow", "routed"]]);
  assert.deepEqual(defaultsArgs(UfwDefaults.parse({ incoming: "reject", outgoing: "deny", routed: "allow", logging: "medium" }), current), [
    ["default", "reject", "incoming"],
    ["default", "deny", "outgoing"],
    ["default", "allow", "routed"],
    ["logging", "medium"],
  ]);
  assert.deepEqual(defaultsArgs(UfwDefaults.parse({ routed: "deny", logging: "on" }), current), []);
  assert.deepEqual(defaultsArgs(UfwDefaults.parse({ routed: "deny", logging: "on" }), { ...current, logging: "off" }), [["logging", "on"]]);
  assert.deepEqual(defaultsArgs(UfwDefaults.parse({ routed: "deny", logging: "low" }), { ...current, logging: undefined }), [["logging", "low"]]);
});

test("routedPolicyFor: a routed policy left out is allow where bridge netfilter is on or unknown, the host's own where it is off; a set one always wins", () => {
  assert.equal(routedPolicyFor(undefined, true), "allow");
  assert.equal(routedPolicyFor(undefined, undefined), "allow");
  assert.equal(routedPolicyFor(undefined, false), undefined);
  assert.equal(routedPolicyFor("deny", true), "deny");
  assert.equal(routedPolicyFor("reject", false), "reject");
});

test("loggingSatisfied, activationArgs, portSpecCovers, describeTuple", () => {
  assert.equal(loggingSatisfied(undefined, "off"), true);
  assert.equal(loggingSatisfied("on", "high"), true);
  assert.equal(loggingSatisfied("on", "off"), false);
  assert.equal(loggingSatisfied("on", undefined), false);
  assert.equal(loggingSatisfied("full", "full"), true);
  assert.equal(loggingSatisfied("low", "medium"), false);
  assert.deepEqual(activationArgs(true), ["--force", "enable"]);
  assert.deepEqual(activationArgs(false), ["disable"]);
  assert.equal(portSpecCovers("any", 22), true);
  assert.equal(portSpecCovers("20:30,443", 30), true);
  assert.equal(portSpecCovers("20:30,443", 31), false);
  assert.equal(portSpecCovers("2222", 22), false);
  const [foreign] = parseUserRules("### tuple ### route:allow_log tcp 80 192.0.2.1 1024:2000 10.0.0.0/8 in_vmbr0!out_eth0 comment=6869", "v4");
  assert.equal(describeTuple(foreign), 'route allow in on vmbr0 proto tcp from 10.0.0.0/8 port 1024:2000 to 192.0.2.1 port 80 (comment "hi")');
});

test("a rule's identity (replace keys) names fields of a rule", () => {
  const fields = Object.keys(UfwRule.parse({ action: "allow", port: 1, interface: "x", comment: "c" }));
  for (const key of UFW_RULE_REPLACE_KEYS) assert.ok(fields.includes(key), key);
});
