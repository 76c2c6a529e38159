import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Fail2banJail, referenceProxmoxJail, referenceSshdJail } from "../../providers/fail2ban/schema";
import { factsScript, installationTraceScript, NodeFacts, parseFacts, preflightProblems, THIS_INSTALLATION, versionAtLeast } from "../../providers/preflight/logic";
import { MANAGED_HEADER } from "../../providers/fail2ban/logic";
import { PreflightInputs, preflightInputsSchema } from "../../providers/preflight/schema";
import { UfwRuleInput } from "../../providers/ufw/schema";
import { ufwState } from "../fixtures/ufw/fixtures";

const sshAndWebUi: UfwRuleInput[] = [
  { action: "allow", protocol: "tcp", port: 22 },
  { action: "allow", protocol: "tcp", port: 8006 },
];
const ufw = (extra: Record<string, unknown> = {}) => ({ enabled: true, rules: sshAndWebUi, ...extra });

const inputs = (extra: Partial<Record<keyof PreflightInputs, unknown>> = {}): PreflightInputs =>
  preflightInputsSchema.parse({
    connection: { name: "pve1", address: "192.0.2.10", hostKey: "SHA256:7mVb1o2Jr1t1mHq2q1Dk3d6d8Yv3pBv1m3c4m5n6o7p" },
    label: "pve1-preflight",
    owner: "proxmox-hardening/test",
    packages: { needed: ["ufw", "fail2ban", "python3-systemd"], install: true },
    ufw: ufw(),
    jails: [referenceSshdJail, referenceProxmoxJail],
    ...extra,
  });

// A default Proxmox VE 8 node: journald only, bridge netfilter on, nothing of ours installed yet,
// in no cluster; the program connects from 203.0.113.5.
const pve8: NodeFacts = {
  bridgeNfCallIptables: true,
  sshSource: { client: "203.0.113.5", server: "192.0.2.10" },
  hostname: "pve1",
  addresses: ["127.0.0.1", "192.0.2.10", "::1"],
  ufwFiles: {},
  packages: { ufw: { candidate: "0.36.2-1" }, fail2ban: { candidate: "1.0.2-2" }, "python3-systemd": { candidate: "235-1+b2" } },
  aptLists: true,
  journald: true,
  pythonSystemd: false,
  logpathExists: [false, false],
};

test("preflight: the default config (routed left out: allow where bridge netfilter is on) passes on nodes with bridge netfilter on, off or unknown", () => {
  assert.equal(inputs().ufw.routed, undefined);
  for (const bridgeNfCallIptables of [true, false, undefined]) assert.deepEqual(preflightProblems(inputs(), { ...pve8, bridgeNfCallIptables }), [], `bridge netfilter ${bridgeNfCallIptables}`);
});

test("preflight: a routed deny where bridge netfilter is on or unknown is refused, unless opted in", () => {
  const deny = inputs({ ufw: ufw({ routed: "deny" }) });
  assert.deepEqual(preflightProblems(deny, pve8).map((p) => p.field), ["ufw.defaults.routed"]);
  assert.match(preflightProblems(deny, pve8)[0].problem, /bridge netfilter on .* every VM's and container's new connections would be dropped/);
  assert.equal(preflightProblems(deny, { ...pve8, bridgeNfCallIptables: undefined }).length, 1);
  assert.deepEqual(preflightProblems(deny, { ...pve8, bridgeNfCallIptables: false }), []);
  assert.deepEqual(preflightProblems(inputs({ ufw: ufw({ routed: "deny", allowForwardDeny: true }) }), pve8), []);
});

test("preflight: packages must be installed or installable; without apt lists the install step decides", () => {
  const noCandidate = { ...pve8, packages: { ...pve8.packages, fail2ban: {} } };
  assert.deepEqual(preflightProblems(inputs(), noCandidate), [
    { field: "packages.install", problem: "fail2ban is not installed and no apt repository of the host offers it (apt-cache policy fail2ban: no candidate); add a Debian repository that has it" },
  ]);
  assert.deepEqual(preflightProblems(inputs(), { ...noCandidate, aptLists: false }), []);
  const noInstall = inputs({ packages: { needed: ["ufw", "fail2ban", "python3-systemd"], install: false } });
  assert.deepEqual(
    preflightProblems(noInstall, { ...pve8, packages: { ...pve8.packages, ufw: { installed: "0.36.2-1" }, fail2ban: { installed: "1.0.2-2" } } }).map((p) => p.problem),
    [
      "python3-systemd is not installed, and packages.install is false; install it, or let the program (packages.install: true)",
      // Without python3-systemd the journal is not readable, and this node has no log files.
      ...["sshd", "proxmox"].map(
        (jail) => `jail ${jail}: neither a log file of logpath nor the systemd journal is available; install python3-systemd (and make sure systemd-journald runs), or set logpath to an existing log file`,
      ),
    ],
  );
});

test("preflight: fail2ban older than 1.0 is refused, the installed version counting before the candidate", () => {
  const old = { ...pve8, packages: { ...pve8.packages, fail2ban: { installed: "0.11.2-2", candidate: "0.11.2-2" } } };
  assert.deepEqual(preflightProblems(inputs(), old).map((p) => p.field), ["packages"]);
  assert.match(preflightProblems(inputs(), old)[0].problem, /^fail2ban 0\.11\.2-2 is older than 1\.0/);
  assert.ok(versionAtLeast("1:1.1.0-8", [1, 0]) && versionAtLeast("1.0.2-2", [1, 0]) && !versionAtLeast("0.11.2", [1, 0]));
});

test("preflight: a jail whose backend finds neither its files nor the journal is refused, naming its config index", () => {
  const polling = Fail2banJail.parse({ name: "sshd", backend: "polling", logpath: ["/var/log/auth.log"] });
  const disabled = Fail2banJail.parse({ name: "old", enabled: false, backend: "systemd" });
  const problems = preflightProblems(inputs({ jails: [disabled, polling] }), { ...pve8, journald: false });
  assert.deepEqual(problems.map((p) => p.field), ["fail2ban.jails[1].backend"]);
  assert.match(problems[0].problem, /^jail sshd: backend polling needs an existing log file/);
});

test("preflight: the facts script reads this machine without changing it, and its output parses", { skip: !existsSync("/usr/bin/dpkg-query") && "not Debian" }, () => {
  const checked = inputs({ packages: { needed: ["dpkg", "no-such-package-xyz"], install: true }, jails: [Fail2banJail.parse({ name: "x", logpath: ["/etc/host*"] }), Fail2banJail.parse({ name: "y", logpath: ["/nonexistent/*.log"] })] });
  const facts = parseFacts(execFileSync("sh", ["-c", factsScript(checked), "sh", "203.0.113.5 50022 192.0.2.10 22"], { encoding: "utf8" }), 2);
  assert.deepEqual(facts.sshSource, { client: "203.0.113.5", server: "192.0.2.10", serverPort: 22 });
  assert.ok(facts.addresses.includes("127.0.0.1"), facts.addresses.join());
  assert.match(facts.packages.dpkg.installed ?? "", /^\d/);
  assert.deepEqual(facts.packages["no-such-package-xyz"], { installed: undefined, candidate: undefined });
  assert.deepEqual(facts.logpathExists, [true, false]);
});

test("preflight: apt-cache is asked only about packages that are not installed", { skip: !existsSync("/usr/bin/dpkg-query") && "not Debian" }, () => {
  // An apt-cache first on PATH that logs what it is asked and offers version 9.9 of anything.
  const dir = mkdtempSync(join(tmpdir(), "phs-apt-cache-"));
  try {
    writeFileSync(join(dir, "apt-cache"), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${dir}/asked\nprintf '%s:\\n  Installed: (none)\\n  Candidate: 9.9\\n' "$2"\n`);
    chmodSync(join(dir, "apt-cache"), 0o755);
    const checked = inputs({ packages: { needed: ["dpkg", "no-such-package-xyz"], install: true } });
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    const facts = parseFacts(execFileSync("sh", ["-c", factsScript(checked), "sh", ""], { encoding: "utf8", env }), 2);
    assert.equal(readFileSync(join(dir, "asked"), "utf8"), "policy no-such-package-xyz\n");
    assert.deepEqual(facts.packages["no-such-package-xyz"], { installed: undefined, candidate: "9.9" });
    assert.equal(facts.packages.dpkg.candidate, undefined);
    // Nothing will be installed: apt is not asked at all.
    execFileSync("sh", ["-c", factsScript(inputs({ packages: { needed: ["no-such-package-xyz"], install: false } })), "sh", ""], { env });
    assert.equal(readFileSync(join(dir, "asked"), "utf8"), "policy no-such-package-xyz\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("preflight: facts as a node prints them, fail2ban's failing test included", () => {
  const output = [
    "bridge\t1",
    "ssh-connection\t::ffff:203.0.113.5 50022 ::ffff:192.0.2.10 22",
    "hostname\tpve1",
    "address\t127.0.0.1/8",
    "address\t192.0.2.10/24",
    "address\t2001:db8::10/64",
    `corosync\t${Buffer.from("totem {\n  cluster_name: prod\n}\n").toString("base64")}`,
    // fileDumpScript's lines (providers/ssh/files.ts): a present file with its content, an absent one
    "=== proxmox-hardening file present 644 root:root /etc/ufw/ufw.conf",
    Buffer.from("ENABLED=no\n").toString("base64"),
    "=== proxmox-hardening file absent - - /etc/ufw/user.rules",
    "package\tufw\tii  0.36.2-1\t0.36.2-1",
    "package\tfail2ban\t\t1.1.0-8",
    "package\tpython3-systemd\tun \t(none)",
    "apt-lists\tyes",
    "journald\tyes",
    "python3-systemd\tno",
    "logpath\t0\tno",
    "logpath\t1\tyes",
    "fail2ban-test\tfailed",
    "2026-12-02 11:00:00,000 fail2ban                [1]: ERROR   Failed during configuration: Have not found any log file for sshd jail",
    "2026-12-02 11:00:00,000 fail2ban                [1]: ERROR   ERROR: test configuration failed",
  ].join("\n");
  assert.deepEqual(parseFacts(output, 2), {
    bridgeNfCallIptables: true,
    // sshd's IPv4-mapped form is what ufw's IPv4 rules see
    sshSource: { client: "203.0.113.5", server: "192.0.2.10", serverPort: 22 },
    hostname: "pve1",
    addresses: ["127.0.0.1", "192.0.2.10", "2001:db8::10"],
    corosyncConf: "totem {\n  cluster_name: prod\n}\n",
    ufwFiles: { "/etc/ufw/ufw.conf": "ENABLED=no\n" },
    packages: { ufw: { installed: "0.36.2-1", candidate: "0.36.2-1" }, fail2ban: { installed: undefined, candidate: "1.1.0-8" }, "python3-systemd": { installed: undefined, candidate: undefined } },
    aptLists: true,
    journald: true,
    pythonSystemd: false,
    logpathExists: [false, true],
    fail2banTest: { ok: false, errors: ["Failed during configuration: Have not found any log file for sshd jail"] },
  });
  assert.equal(parseFacts("bridge\tunknown", 0).bridgeNfCallIptables, undefined);
  assert.equal(parseFacts("ssh-connection\t", 0).sshSource, undefined, "no $SSH_CONNECTION: the source is unknown");
});

// What activation would refuse, judged before the first change on the node.
const corosyncConf = (members: Array<[string, string]>) =>
  `nodelist {\n${members.map(([name, address], i) => `  node {\n    name: ${name}\n    nodeid: ${i + 1}\n    quorum_votes: 1\n    ring0_addr: ${address}\n  }\n`).join("")}}\n\ntotem {\n  cluster_name: prod\n}\n`;
const inCluster: NodeFacts = { ...pve8, corosyncConf: corosyncConf([["pve1", "192.0.2.10"], ["pve2", "192.0.2.11"]]) };
const ufwFiles = (snapshot: string) => ({
  "/etc/default/ufw": ufwState(snapshot, "default-ufw"),
  "/etc/ufw/ufw.conf": ufwState(snapshot, "ufw.conf"),
  "/etc/ufw/user.rules": ufwState(snapshot, "user.rules"),
  "/etc/ufw/user6.rules": ufwState(snapshot, "user6.rules"),
});

test("preflight: SSH allowed only from a network this program's connection does not come from is refused; from inside it passes", () => {
  const from = (network: string) => inputs({ ufw: ufw({ rules: [{ action: "allow", protocol: "tcp", port: 22, from: network }, sshAndWebUi[1]] }) });
  const outside = preflightProblems(from("198.51.100.0/24"), pve8);
  assert.deepEqual(outside.map((p) => p.field), ["ufw.rules"]);
  assert.match(outside[0].problem, /comes from 203\.0\.113\.5 \(as the host sees it, connected to 192\.0\.2\.10 port 22\)/);
  assert.deepEqual(preflightProblems(from("203.0.113.0/24"), pve8), []);
  // the node did not tell the source: a restriction cannot be judged
  const unknown = preflightProblems(from("203.0.113.0/24"), { ...pve8, sshSource: undefined });
  assert.match(unknown[0].problem, /SSH would be allowed only from 203\.0\.113\.0\/24, and the host did not tell this program's source address/);
  // nothing is judged when ufw stays off; on a node where it is on already, only what the stack makes worse
  assert.deepEqual(preflightProblems(inputs({ ufw: ufw({ enabled: false, rules: [] }) }), pve8), []);
  // a-active allows corosync only from 10.10.10.0/24: its member at 192.0.2.11 would be cut, were ufw switched on here
  assert.deepEqual(preflightProblems(inputs(), { ...inCluster, ufwFiles: ufwFiles("a-active") }), []);
});

test("preflight: on a node where ufw is on and lets everything in, the stack's deny is judged like switching ufw on", () => {
  // a-pristine (no rules) switched on with `ufw default allow incoming`
  const pristine = ufwFiles("a-pristine");
  const allowing = {
    ...pristine,
    "/etc/ufw/ufw.conf": pristine["/etc/ufw/ufw.conf"].replace("ENABLED=no", "ENABLED=yes"),
    "/etc/default/ufw": pristine["/etc/default/ufw"].replace('DEFAULT_INPUT_POLICY="DROP"', 'DEFAULT_INPUT_POLICY="ACCEPT"'),
  };
  assert.ok(allowing["/etc/ufw/ufw.conf"].includes("ENABLED=yes") && allowing["/etc/default/ufw"].includes('DEFAULT_INPUT_POLICY="ACCEPT"'));
  // corosync from pve2 flows now and would not after `ufw default deny incoming`
  const split = preflightProblems(inputs(), { ...inCluster, ufwFiles: allowing });
  assert.deepEqual(split.map((p) => p.field), ["ufw.clusterTraffic"]);
  assert.match(split[0].problem, /^ufw on pve1 would split cluster prod .*from pve2 \(192\.0\.2\.11\) would be cut/);
  // SSH from this program: the stack's rules allow it only from a network it is not in
  const sshElsewhere = inputs({ ufw: ufw({ rules: [{ action: "allow", protocol: "tcp", port: 22, from: "198.51.100.0/24" }, sshAndWebUi[1]] }) });
  assert.match(preflightProblems(sshElsewhere, { ...pve8, ufwFiles: allowing }).map((p) => `${p.field}: ${p.problem}`).join("\n"), /^ufw\.rules: this program's SSH connection comes from 203\.0\.113\.5 .* would be cut off$/m);
  // the stack keeps "allow": nothing to judge; the default rules allow SSH from anywhere: no cut
  assert.deepEqual(preflightProblems(inputs({ ufw: ufw({ incoming: "allow" }) }), { ...inCluster, ufwFiles: allowing }), []);
  assert.deepEqual(preflightProblems(inputs(), { ...pve8, ufwFiles: allowing }), []);
});

test("preflight: the rules the node already stores come first", () => {
  // a-rules-inactive stores an allow for 22 from anywhere: a config without one passes there, not on a fresh ufw
  const noSsh = inputs({ ufw: ufw({ rules: [sshAndWebUi[1]] }) });
  assert.deepEqual(preflightProblems(noSsh, { ...pve8, ufwFiles: ufwFiles("a-rules-inactive") }), []);
  assert.match(preflightProblems(noSsh, pve8)[0].problem, /for that source no rule allows it and the incoming policy is "deny"/);
  const broken = preflightProblems(inputs(), { ...pve8, ufwFiles: { "/etc/ufw/ufw.conf": "ENABLED=no\n" } });
  assert.deepEqual(broken.map((p) => p.field), ["ufw"]);
  assert.match(broken[0].problem, /^ufw's state could not be read: \/etc\/default\/ufw could not be read/);
});

test("preflight: a member of the node's cluster that the rules would cut off is refused, naming the node's corosync.conf", () => {
  const problems = preflightProblems(inputs(), inCluster);
  assert.deepEqual(problems.map((p) => p.field), ["ufw.clusterTraffic"]);
  assert.match(problems[0].problem, /^ufw on pve1 would split cluster prod \(members pve1, pve2\): 5405-5412\/udp from pve2 \(192\.0\.2\.11\) would be cut/);
  assert.match(problems[0].problem, /\(members as listed in the node's \/etc\/pve\/corosync\.conf\)$/);
  const corosync = { action: "allow", protocol: "udp", port: "5405:5412", from: "192.0.2.0/24" };
  assert.deepEqual(preflightProblems(inputs({ ufw: ufw({ rules: [...sshAndWebUi, corosync] }) }), inCluster), []);
  // the node is found by its address when its name differs from corosync.conf's
  assert.match(preflightProblems(inputs(), { ...inCluster, hostname: "other" })[0].problem, /ufw on pve1 would split/);
  assert.match(preflightProblems(inputs(), { ...pve8, corosyncConf: "nodelist {\n" })[0].problem, /could not be read as a corosync configuration/);
});

test("preflight: a node that is already another host entry of this stack (renamed or listed twice) is refused, saying how to rename", () => {
  assert.deepEqual(preflightProblems(inputs(), { ...pve8, recordHosts: ["pve1"] }), [], "its own records are fine");
  const problems = preflightProblems(inputs(), { ...pve8, recordHosts: ["pve1", "pve-old"] });
  assert.deepEqual(problems.map((p) => p.field), ["name"]);
  assert.match(problems[0].problem, /^this node is host entry pve-old of this stack \(its records are in \/var\/lib\/proxmox-hardening\/before\/proxmox-hardening\/test\/pve-old\/\)/);
  assert.match(problems[0].problem, /set the name back to pve-old\. To rename it anyway: remove the entry, run `pulumi up` \(which rolls pve-old back\), then add it as pve1/);
  assert.deepEqual(parseFacts("record-host\tpve-old\nrecord-host\tpve1", 0).recordHosts, ["pve-old", "pve1"]);
  assert.equal(parseFacts("bridge\t1", 0).recordHosts, undefined);
});

test("preflight: a node with this stack's records, or a fail2ban file this program wrote, is the same installation; a bare one is not", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-trace-"));
  try {
    const roots = { records: join(dir, "before"), fail2ban: join(dir, "fail2ban") };
    const trace = () => execFileSync("sh", ["-c", installationTraceScript("proxmox-hardening/prod", "pve1", roots)], { encoding: "utf8" });
    assert.equal(trace(), "", "nothing of the stack: reinstalled");
    execFileSync("mkdir", ["-p", join(roots.fail2ban, "jail.d"), join(roots.records, "proxmox-hardening", "test", "pve1")]);
    writeFileSync(join(roots.fail2ban, "jail.d", "defaults-debian.conf"), "[sshd]\nenabled = true\n");
    assert.equal(trace(), "", "another stack's records and Debian's own files are no trace of this one");
    writeFileSync(join(roots.fail2ban, "jail.d", "proxmox-hardening-defaults.local"), `${MANAGED_HEADER}\n# fail2ban defaults for every jail\n`);
    assert.equal(trace(), `${THIS_INSTALLATION}\n`, "a file this program wrote (a stack from before the records)");
    rmSync(join(roots.fail2ban, "jail.d", "proxmox-hardening-defaults.local"));
    execFileSync("mkdir", ["-p", join(roots.records, "proxmox-hardening", "prod", "pve1")]);
    assert.equal(trace(), `${THIS_INSTALLATION}\n`, "its records");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
