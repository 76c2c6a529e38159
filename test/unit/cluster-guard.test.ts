// The cluster guard: ufw must never cut corosync between the members of a cluster.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseProgramConfig } from "../../providers/host/config";
import { parseCorosyncConf } from "../../providers/proxmox/logic";
import { addressFamilyOf, networkContains } from "../../providers/ufw/address";
import { corosyncCutProblems, incomingVerdict, predictUserRules } from "../../providers/ufw/logic";
import { UfwRule, UfwRuleInput } from "../../providers/ufw/schema";

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ";
const node = (name: string, address: string, extra: Record<string, unknown> = {}) => ({ name, address, hostKey, cluster: "prod", ...extra });
const planned = (...rules: UfwRuleInput[]) => predictUserRules({ v4: [], v6: [] }, rules.map((rule) => UfwRule.parse(rule)));
const ssh: UfwRuleInput = { action: "allow", protocol: "tcp", port: 22 };
const corosyncFrom = (from: string): UfwRuleInput => ({ action: "allow", protocol: "udp", port: "5405:5412", from });

test("networkContains: addresses, networks and anywhere, never across families", () => {
  assert.equal(networkContains("198.51.100.0/24", "198.51.100.7"), true);
  assert.equal(networkContains("198.51.100.0/25", "198.51.100.200"), false);
  assert.equal(networkContains("198.51.100.7", "198.51.100.7"), true);
  assert.equal(networkContains("0.0.0.0/0", "203.0.113.1"), true);
  assert.equal(networkContains("::/0", "2001:db8::1"), true);
  assert.equal(networkContains("0.0.0.0/0", "2001:db8::1"), false);
  assert.equal(networkContains("2001:db8:ff::/64", "2001:db8:ff::11"), true);
  assert.equal(networkContains("2001:db8:ff::/64", "2001:db8:fe::11"), false);
  assert.equal(networkContains("198.51.100.0/24", "pve1.example"), false);
  assert.equal(addressFamilyOf("pve1.example"), undefined);
});

test("incomingVerdict: the first matching rule decides; an uncertain allow never counts, an uncertain deny does", () => {
  const packet = { source: "198.51.100.12", destination: "198.51.100.11", protocol: "udp" as const, port: 5405 };
  assert.deepEqual(incomingVerdict(planned(ssh).v4, "deny", packet), { allowed: false, reason: 'no rule allows it and the incoming policy is "deny"' });
  assert.deepEqual(incomingVerdict(planned(ssh).v4, "allow", packet), { allowed: true });
  assert.deepEqual(incomingVerdict(planned(corosyncFrom("198.51.100.0/24")).v4, "deny", packet), { allowed: true });
  assert.equal(incomingVerdict(planned(corosyncFrom("203.0.113.0/24")).v4, "deny", packet).allowed, false);
  // a deny before the allow shadows it
  const shadowed = incomingVerdict(planned({ action: "deny", protocol: "udp", from: "198.51.100.12" }, corosyncFrom("198.51.100.0/24")).v4, "deny", packet);
  assert.equal(shadowed.allowed, false);
  assert.match(shadowed.allowed ? "" : shadowed.reason, /^rule 1 \(deny in proto udp from 198\.51\.100\.12 to any\) denies it first$/);
  // an allow on one interface may not be the one corosync arrives on
  assert.equal(incomingVerdict(planned({ ...corosyncFrom("198.51.100.0/24"), interface: "vmbr1" }).v4, "deny", packet).allowed, false);
  const maybe = incomingVerdict(planned({ action: "deny", protocol: "udp", interface: "vmbr1" }, corosyncFrom("198.51.100.0/24")).v4, "deny", packet);
  assert.match(maybe.allowed ? "" : maybe.reason, /may deny it first/);
  // a rule to another address of the node does not match
  assert.equal(incomingVerdict(planned({ ...corosyncFrom("198.51.100.0/24"), to: "198.51.100.99" }).v4, "deny", packet).allowed, false);
});

test("corosyncCutProblems names the cluster, the members, the ports and the way to allow them", () => {
  const problems = corosyncCutProblems({
    cluster: "prod",
    node: { name: "pve1", addresses: ["198.51.100.11"] },
    rules: planned(ssh, corosyncFrom("198.51.100.12")),
    incoming: "deny",
    peers: [
      { name: "pve2", addresses: ["198.51.100.12"] },
      { name: "pve3", addresses: ["198.51.100.13", "2001:db8:ff::13"] },
    ],
  });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^ufw on pve1 would split cluster prod \(members pve1, pve2, pve3\): /);
  assert.match(problems[0], /5405-5412\/udp from pve3 \(198\.51\.100\.13\) would be cut/);
  assert.match(problems[0], /5405-5412\/udp from pve3 \(2001:db8:ff::13\) would be cut/);
  assert.doesNotMatch(problems[0], /from pve2/);
  assert.match(problems[0], /lose quorum/);
  assert.match(problems[0], /clusterTraffic: \{ network:/);
  // a range that leaves out one of corosync's ports still cuts a link
  const partial = corosyncCutProblems({
    cluster: "prod",
    node: { name: "pve1", addresses: ["198.51.100.11"] },
    rules: planned({ action: "allow", protocol: "udp", port: "5405:5410", from: "198.51.100.0/24" }),
    incoming: "deny",
    peers: [{ name: "pve2", addresses: ["198.51.100.12"] }],
  });
  assert.match(partial[0], /port 5411/);
  // a member listed by name cannot be judged and is never assumed reachable
  assert.match(
    corosyncCutProblems({ cluster: "prod", node: { name: "pve1", addresses: ["198.51.100.11"] }, rules: planned(), incoming: "allow", peers: [{ name: "pve2", addresses: ["pve2.lan"] }] })[0],
    /"pve2\.lan" is not an IP address/,
  );
});

test("preview refuses a cluster whose corosync traffic the planned rules would cut, and accepts it with the cluster rules", () => {
  const hosts = [node("pve1", "198.51.100.11"), node("pve2", "198.51.100.12")];
  assert.throws(
    () => parseProgramConfig({ hosts }, "prod"),
    (error: Error) =>
      /\[host pve1, resource stack prod config, field proxmox-hardening:hosts\[0\]\.cluster\]/.test(error.message) &&
      /would split cluster prod \(members pve1, pve2\)/.test(error.message) &&
      /from pve2 \(198\.51\.100\.12\)/.test(error.message) &&
      /\[host pve2, /.test(error.message) &&
      /nothing was sent to any host/.test(error.message),
  );
  assert.doesNotThrow(() => parseProgramConfig({ hosts, ufw: { clusterTraffic: { network: "198.51.100.0/24" } } }, "prod"));
  assert.doesNotThrow(() => parseProgramConfig({ hosts, ufw: { extraRules: [corosyncFrom("198.51.100.0/24")] } }, "prod"));
  // nothing to cut: ufw off, incoming allowed, or a host alone in its cluster
  assert.doesNotThrow(() => parseProgramConfig({ hosts, ufw: { enabled: false } }, "prod"));
  assert.doesNotThrow(() => parseProgramConfig({ hosts, ufw: { defaults: { incoming: "allow" } } }, "prod"));
  assert.doesNotThrow(() => parseProgramConfig({ hosts: [hosts[0], node("pve2", "198.51.100.12", { cluster: "other" })] }, "prod"));
});

test("preview judges the corosync network, not the SSH address, when the nodes say where corosync runs", () => {
  const hosts = [
    node("pve1", "203.0.113.10", { corosyncAddresses: ["10.10.10.1"] }),
    node("pve2", "203.0.113.11", { corosyncAddresses: ["10.10.10.2"] }),
  ];
  assert.doesNotThrow(() => parseProgramConfig({ hosts, ufw: { clusterTraffic: { network: "10.10.10.0/24" } } }, "prod"));
  assert.throws(() => parseProgramConfig({ hosts, ufw: { clusterTraffic: { network: "203.0.113.0/24" } } }, "prod"), /from pve2 \(10\.10\.10\.2\) would be cut/);
  // reached by DNS name: the addresses must be given
  assert.throws(
    () => parseProgramConfig({ hosts: [node("pve1", "pve1.example"), node("pve2", "198.51.100.12")], ufw: { clusterTraffic: { network: "198.51.100.0/24" } } }, "prod"),
    /field proxmox-hardening:hosts\[0\]\.corosyncAddresses\].*reached by name/s,
  );
  assert.throws(() => parseProgramConfig({ hosts: [node("pve1", "198.51.100.11", { corosyncAddresses: ["10.10.10.0/24"] })] }, "prod"), /an address of the node, not a network/);
});

test("parseCorosyncConf reads the cluster name and every member's link addresses", () => {
  const conf = parseCorosyncConf(`logging {
  debug: off
  to_syslog: yes
}

nodelist {
  node {
    name: pve1
    nodeid: 1
    quorum_votes: 1
    ring0_addr: 10.10.10.1
    ring1_addr: 198.51.100.11
  }
  node {
    name: pve2
    nodeid: 2
    quorum_votes: 1
    ring0_addr: 10.10.10.2
  }
}

quorum {
  provider: corosync_votequorum
}

totem {
  cluster_name: pve-prod # the name
  config_version: 3
  interface {
    linknumber: 0
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  version: 2
}
`);
  assert.deepEqual(conf, {
    clusterName: "pve-prod",
    nodes: [
      { name: "pve1", nodeid: 1, addresses: ["10.10.10.1", "198.51.100.11"] },
      { name: "pve2", nodeid: 2, addresses: ["10.10.10.2"] },
    ],
  });
  assert.throws(() => parseCorosyncConf("nodelist {\n  node {\n    name: pve1\n"), /ends inside section nodelist\.node/);
  assert.throws(() => parseCorosyncConf("}\n"), /without an open section/);
  assert.throws(() => parseCorosyncConf("totem {\n  garbage here\n}\n"), /neither "key: value" nor a section/);
});
