// The guard on a rule taken away while ufw is on: never this program's SSH connection, never the cluster.
import assert from "node:assert/strict";
import { test } from "node:test";
import { incomingVerdict, predictAfterDelete, predictUserRules, UfwFileState } from "../../providers/ufw/logic";
import { UfwRule, UfwRuleInput } from "../../providers/ufw/schema";
import { parseSwitchOnFacts, ruleChangeProblems, SwitchOnFacts, switchOnProblems } from "../../providers/ufw/switch-on";

const rule = (input: UfwRuleInput) => UfwRule.parse(input);
const stored = (...rules: UfwRuleInput[]) => predictUserRules({ v4: [], v6: [] }, rules.map(rule));
const onWith = (...rules: UfwRuleInput[]): UfwFileState => {
  const { v4, v6 } = stored(...rules);
  return { enabled: true, logging: "low", defaults: { incoming: "deny", outgoing: "allow", routed: "deny" }, ipv6: true, tuplesV4: v4, tuplesV6: v6 };
};
const program = { client: "192.0.2.50", server: "192.0.2.10", serverPort: 22 };
const facts: SwitchOnFacts = { bridgeNfCallIptables: false, sshSource: program, hostname: "pve1", addresses: ["192.0.2.10"] };
const ssh: UfwRuleInput = { action: "allow", protocol: "tcp", port: 22 };
const sshFrom = (from: string): UfwRuleInput => ({ ...ssh, from });
const webUi: UfwRuleInput = { action: "allow", protocol: "tcp", port: 8006 };

/** The problems of deleting `gone` from a node where ufw is on with `rules`. */
function deleting(gone: UfwRuleInput, rules: UfwRuleInput[], overrides: Partial<Parameters<typeof ruleChangeProblems>[0]> = {}) {
  const state = overrides.state ?? onWith(...rules);
  const after = predictAfterDelete({ v4: state.tuplesV4, v6: state.tuplesV6 }, rule(gone));
  return ruleChangeProblems({ state, after, facts, sshPort: 22, nodeName: "pve1", ...overrides });
}

test("predictAfterDelete: the rule's tuples in both families go, and only those with its action (ufw's delete)", () => {
  const before = stored(ssh, webUi);
  assert.deepEqual(predictAfterDelete(before, rule(ssh)), stored(webUi));
  assert.deepEqual(predictAfterDelete(before, rule({ ...ssh, action: "deny" })), before, "a deny of the same match is another rule for ufw's delete");
  assert.deepEqual(predictAfterDelete(before, rule(sshFrom("192.0.2.0/24"))), before);
  assert.deepEqual(predictAfterDelete(stored(sshFrom("192.0.2.0/24"), ssh), rule(sshFrom("192.0.2.0/24"))), stored(ssh));
});

test("deleting the rule that lets this program's SSH connection in is refused, naming its source and what ufw would do", () => {
  const { ssh: problems, cluster } = deleting(ssh, [ssh, webUi]);
  assert.deepEqual(cluster, []);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^this program's SSH connection comes from 192\.0\.2\.50 \(as the host sees it, connected to 192\.0\.2\.10 port 22\), and after this change no rule allows it and the incoming policy is "deny": this program's SSH connection would be cut off$/);
  // Moved to a management network the program is not in: the old rule is the one that keeps it in.
  assert.equal(deleting(ssh, [sshFrom("198.51.100.0/24"), ssh]).ssh.length, 1);
  // Another rule still lets it in: from its network, or from anywhere.
  assert.deepEqual(deleting(ssh, [sshFrom("192.0.2.0/24"), ssh]).ssh, []);
  assert.deepEqual(deleting(sshFrom("198.51.100.0/24"), [sshFrom("198.51.100.0/24"), ssh]).ssh, []);
  // ufw off, or letting everything in: nothing to cut.
  assert.deepEqual(deleting(ssh, [], { state: { ...onWith(ssh), enabled: false } }), { ssh: [], cluster: [] });
  assert.deepEqual(deleting(ssh, [], { state: { ...onWith(ssh), defaults: { incoming: "allow", outgoing: "allow", routed: "deny" } } }), { ssh: [], cluster: [] });
});

test("the port judged is the one the node sees in $SSH_CONNECTION, else the connection's", () => {
  const natted = { ...facts, sshSource: { ...program, serverPort: 2222 } };
  assert.deepEqual(deleting(ssh, [ssh, { ...ssh, port: 2222 }], { facts: natted }).ssh, [], "the connection arrives on 2222, which stays allowed");
  assert.equal(deleting({ ...ssh, port: 2222 }, [ssh, { ...ssh, port: 2222 }], { facts: natted }).ssh.length, 1);
  const { serverPort: _, ...noPort } = program;
  assert.equal(deleting({ ...ssh, port: 2222 }, [ssh, { ...ssh, port: 2222 }], { facts: { ...facts, sshSource: noPort }, sshPort: 2222 }).ssh.length, 1);
  assert.deepEqual(parseSwitchOnFacts("ssh-connection\t192.0.2.50 51234 192.0.2.10 2222\n").sshSource, { client: "192.0.2.50", server: "192.0.2.10", serverPort: 2222 });
});

test("putting a node's own rule back (a deny it had) is judged like a delete", () => {
  const state = onWith({ ...ssh, comment: "ours" });
  const after = predictUserRules({ v4: state.tuplesV4, v6: state.tuplesV6 }, [rule({ ...ssh, action: "deny" })]);
  assert.match(ruleChangeProblems({ state, after, facts, sshPort: 22, nodeName: "pve1" }).ssh[0], /after this change rule 1 \(deny .*22.*\) denies it first/);
});

test("only what the change makes worse counts: a connection already refused, or let in by a rule ufw's rules cannot settle, is left alone", () => {
  // Already refused now (the program is outside the only network allowed): this change does not cut it.
  assert.deepEqual(deleting(webUi, [sshFrom("198.51.100.0/24"), webUi]).ssh, []);
  // The node's own rule on an interface may let it in: a destroy putting the node back is not refused for it.
  const onInterface: UfwRuleInput = { ...ssh, interface: "vmbr0" };
  assert.deepEqual(deleting(ssh, [onInterface, ssh]).ssh, []);
  const mayLetIn = incomingVerdict(stored(onInterface).v4, "deny", { source: "192.0.2.50", destination: "192.0.2.10", protocol: "tcp", port: 22 });
  assert.equal(mayLetIn.allowed, false);
  assert.equal((mayLetIn as { uncertain?: true }).uncertain, true);
  assert.equal("uncertain" in incomingVerdict(stored(webUi).v4, "deny", { source: "192.0.2.50", protocol: "tcp", port: 22 }), false, "a verdict reached without any doubt says nothing more");
});

test("without $SSH_CONNECTION, judged for any source as switching on is", () => {
  const blind = { ...facts, sshSource: undefined };
  assert.match(deleting(ssh, [ssh, webUi], { facts: blind }).ssh.join("\n"), /no IPv4 rule allowing tcp port 22/);
  assert.deepEqual(deleting(webUi, [ssh, webUi], { facts: blind }).ssh, []);
});

test("taking away corosync between the members of the node's cluster is refused; other rules are not", () => {
  const corosync: UfwRuleInput = { action: "allow", protocol: "udp", port: "5405:5412", from: "192.0.2.0/24" };
  const conf = `nodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    ring0_addr: 192.0.2.10\n  }\n  node {\n    name: pve2\n    nodeid: 2\n    ring0_addr: 192.0.2.11\n  }\n}\n\ntotem {\n  cluster_name: prod\n}\n`;
  const member = { ...facts, corosyncConf: conf };
  const { ssh: sshProblems, cluster } = deleting(corosync, [ssh, corosync, webUi], { facts: member });
  assert.deepEqual(sshProblems, []);
  assert.equal(cluster.length, 1);
  assert.match(cluster[0], /ufw on pve1 would split cluster prod .*from pve2 \(192\.0\.2\.11\)/);
  assert.deepEqual(deleting(webUi, [ssh, corosync, webUi], { facts: member }).cluster, []);
});

// A running ufw told to deny (ufw's defaults on a node where ufw was already on) is a switch-on of its own.
const allowingWith = (...rules: UfwRuleInput[]): UfwFileState => ({ ...onWith(...rules), defaults: { incoming: "allow", outgoing: "allow", routed: "deny" } });
const denying = (state: UfwFileState, overrides: Partial<Parameters<typeof ruleChangeProblems>[0]> = {}) =>
  ruleChangeProblems({ state, after: { v4: state.tuplesV4, v6: state.tuplesV6 }, incomingAfter: "deny", facts, sshPort: 22, nodeName: "pve1", ...overrides });

test("a stricter incoming policy on a running ufw is refused when it would cut this program's SSH connection", () => {
  const [problem, ...more] = denying(allowingWith(webUi)).ssh;
  assert.deepEqual(more, []);
  assert.match(problem, /^this program's SSH connection comes from 192\.0\.2\.50 .* port 22\), and after this change .*: this program's SSH connection would be cut off$/);
  // SSH allowed by a rule (from anywhere, or from the program's network), ufw off, or the policy staying "allow": nothing to cut.
  assert.deepEqual(denying(allowingWith(ssh, webUi)), { ssh: [], cluster: [] });
  assert.deepEqual(denying(allowingWith(sshFrom("192.0.2.0/24"))).ssh, []);
  assert.deepEqual(denying({ ...allowingWith(webUi), enabled: false }), { ssh: [], cluster: [] });
  assert.deepEqual(denying(allowingWith(webUi), { incomingAfter: "allow" }), { ssh: [], cluster: [] });
  // SSH allowed only from a network the program is not in is no better than no rule.
  assert.equal(denying(allowingWith(sshFrom("198.51.100.0/24"))).ssh.length, 1);
  // Without $SSH_CONNECTION: judged for any source, as switching on is.
  assert.match(denying(allowingWith(webUi), { facts: { ...facts, sshSource: undefined } }).ssh.join("\n"), /no IPv4 rule allowing tcp port 22/);
});

test("a stricter incoming policy on a running ufw is refused when it would split the node's cluster", () => {
  const conf = `nodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    ring0_addr: 192.0.2.10\n  }\n  node {\n    name: pve2\n    nodeid: 2\n    ring0_addr: 192.0.2.11\n  }\n}\n\ntotem {\n  cluster_name: prod\n}\n`;
  const member = { ...facts, corosyncConf: conf };
  const { ssh: sshProblems, cluster } = denying(allowingWith(ssh, webUi), { facts: member });
  assert.deepEqual(sshProblems, []);
  assert.equal(cluster.length, 1);
  assert.match(cluster[0], /ufw on pve1 would split cluster prod .*from pve2 \(192\.0\.2\.11\)/);
  const corosync: UfwRuleInput = { action: "allow", protocol: "udp", port: "5405:5412", from: "192.0.2.0/24" };
  assert.deepEqual(denying(allowingWith(ssh, corosync), { facts: member }).cluster, []);
});

test("switching ufw on judges the port the node sees in $SSH_CONNECTION, not the one the program connects to", () => {
  // The program connects to 2222, forwarded to the node's 22.
  const forwarded = { ...facts, sshSource: { ...program, serverPort: 22 } };
  const switchingOn = (rules: UfwRuleInput[]) =>
    switchOnProblems({ defaults: { incoming: "deny" }, rules: rules.map(rule), activation: { enabled: true }, sshPort: 2222, facts: forwarded, nodeName: "pve1" }).ssh;
  assert.equal(switchingOn([{ ...ssh, port: 2222 }]).length, 1, "only 2222 allowed: the connection, arriving on 22, would be cut");
  assert.match(switchingOn([{ ...ssh, port: 2222 }])[0], /connected to 192\.0\.2\.10 port 22\)/);
  assert.deepEqual(switchingOn([ssh]), []);
});
