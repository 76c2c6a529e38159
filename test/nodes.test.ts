import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import { after, before, test } from "node:test";
import { down, hostExec, Inventory, INVENTORY_PATH, PREFIX, reboot, SandboxHost, SANDBOX_DIR, up, writePvedaemonFailure } from "../sandbox";
import { pollUntil } from "../sandbox/attack";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 13: systemd-booted nodes of Debian 12 (Proxmox VE 8's base) and Debian 13 (VE 9's),
// a three-node cluster, reboots, and a `down` that leaves the machine as it was.

let inventory: Inventory;
let deb12: SandboxHost;
let deb13: SandboxHost;
let cluster: SandboxHost[];
let machineBefore: string;
const before_: Record<string, HostState> = {};

/** What a node must not change on the machine: its firewall, its cgroups, daemons outside nodes. */
function machineState(): string {
  const sh = (cmd: string) => execFileSync("bash", ["-c", cmd], { encoding: "utf8" });
  const cgroup2 = sh("awk '$9 == \"cgroup2\" {print $5; exit}' /proc/self/mountinfo").trim();
  return [
    // Without the packet counters of the chains' policies.
    sh("iptables-save | grep -v '^#' | sed 's/ \\[[0-9:]*\\]$//'"),
    sh("ip6tables-save | grep -v '^#' | sed 's/ \\[[0-9:]*\\]$//'"),
    sh("nft list ruleset"),
    // Other sandboxes' nodes (another PHS_PREFIX) come and go meanwhile: not ours to compare.
    sh(`find ${cgroup2} -maxdepth 1 -type d | sort`).split("\n").filter((d) => !/\/[a-z]{2,5}-pve\d+$/.test(d) || d.startsWith(`${cgroup2}/${PREFIX}`)).join("\n"),
    // up may raise it for the run; down puts it back.
    sh("cat /proc/sys/fs/inotify/max_user_instances"),
    // Daemons in the machine's own mount namespace (a node's run in its own).
    sh(`for p in $(pgrep -x 'sshd|systemd|systemd-journal|fail2ban-server|corosync|dbus-daemon'); do [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && cat /proc/$p/comm; done | sort || true`),
  ].join("\n");
}

before(async () => {
  await down();
  machineBefore = machineState();
  inventory = await up({
    count: 0,
    nodes: [
      { release: "bookworm" },
      { release: "trixie" },
      ...(["bookworm", "trixie", "trixie"] as const).map((release) => ({ release, cluster: "pve-test" })),
    ],
  });
  [deb12, deb13, ...cluster] = inventory.hosts;
  for (const node of [deb12, deb13]) before_[node.name] = await hostState(node);
}, { timeout: 600_000 });

after(async () => {
  for (const program of Object.values(programs)) await program.remove();
  await down();
}, { timeout: 600_000 });

test("nodes boot Debian 12 and 13 with systemd as PID 1, each in a cgroup of its own, running the real units", { timeout: 600_000 }, async () => {
  for (const [node, codename] of [[deb12, "bookworm"], [deb13, "trixie"]] as const) {
    assert.equal(node.kind, "node");
    assert.match(await run(node, "cat /etc/os-release"), new RegExp(`^VERSION_CODENAME=${codename}$`, "m"));
    assert.equal((await run(node, "cat /proc/1/comm")).trim(), "systemd");
    assert.match(await run(node, "systemctl is-system-running || true"), /^(running|degraded)$/m);
    for (const unit of ["ssh", "systemd-journald", "pvedaemon", "pveproxy"]) {
      assert.equal((await run(node, `systemctl is-active ${unit}`)).trim(), "active", `${node.name}: ${unit}`);
    }
    assert.equal((await run(node, "systemctl is-enabled ufw fail2ban")).trim(), "enabled\nenabled");
    // Journal only, as a default Proxmox VE install: no rsyslog, no /var/log/syslog.
    assert.equal((await hostExec(node, "test -e /var/log/syslog || dpkg -s rsyslog")).code, 1, `${node.name}: no syslog`);
    const cgroup = fs.readFileSync(`/proc/${node.pid}/cgroup`, "utf8");
    assert.match(cgroup, new RegExp(`^0::/${PREFIX}${node.name}/`, "m"), `${node.name}: own cgroup`);
  }
  // As on the real releases: Debian 13's fail2ban 1.1 reads the journal by default and runs; Debian
  // 12's wants /var/log/auth.log, which a journald-only node lacks, and fails at boot.
  assert.equal((await hostExec(deb13, "systemctl is-active fail2ban")).stdout.trim(), "active");
  assert.equal((await hostExec(deb12, "systemctl is-active fail2ban")).stdout.trim(), "failed");
});

test("a failed web-UI login is logged by pvedaemon to the journal as the real one logs it", { timeout: 600_000 }, async () => {
  for (const node of [deb12, deb13]) {
    const status = await new Promise<number>((resolve, reject) => {
      const body = "username=root%40pam&password=wrong";
      const req = https.request(
        { host: node.address, port: 8006, method: "POST", path: "/api2/json/access/ticket", rejectUnauthorized: false, timeout: 10_000,
          headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": body.length } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.end(body);
    });
    assert.equal(status, 401);
    await writePvedaemonFailure(node, "2001:db8::5", "admin@pve", "no such user ('admin@pve')");
    const lines = await run(node, "journalctl -o short SYSLOG_IDENTIFIER=pvedaemon -p err --no-pager -q");
    const machine = inventory.network.machineAddress;
    assert.match(lines, new RegExp(`^\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${node.name} pvedaemon\\[\\d+\\]: authentication failure; rhost=::ffff:${machine.replace(/\./g, "\\.")} user=root@pam msg=Authentication failure$`, "m"));
    assert.match(lines, /pvedaemon\[\d+\]: authentication failure; rhost=2001:db8::5 user=admin@pve msg=no such user \('admin@pve'\)$/m);
    assert.match(await run(node, "journalctl -o verbose SYSLOG_IDENTIFIER=pvedaemon -p err --no-pager -q -n 2"), /_SYSTEMD_UNIT=pvedaemon\.service/);
  }
});

/** One stack per node, so that one release's failure cannot hide the other's result. */
const programs: Record<string, ProgramStack> = {};
const hardened = new Set<string>();
const RELEASES = [["Debian 12", () => deb12], ["Debian 13", () => deb13]] as const;

/** Runs up with the README's default config and checks what a user would. */
async function hardenNode(node: SandboxHost): Promise<void> {
  programs[node.name] ??= await ProgramStack.create(`test-nodes-${node.name}-${process.pid}`, sandboxConfig([{ host: node }]));
  const result = await programs[node.name].stack.up();
  assert.equal(result.summary.result, "succeeded");
  const status = await run(node, "ufw status verbose");
  assert.match(status, /^Status: active$/m);
  assert.match(status, /^Default: deny \(incoming\), allow \(outgoing\)/m);
  for (const port of ["22", "8006"]) assert.match(status, new RegExp(`^${port}/tcp +ALLOW IN +Anywhere`, "m"), `${node.name}: ${port}`);
  const jails = await run(node, "fail2ban-client status");
  assert.match(jails, /Jail list:\s+.*\bproxmox\b/);
  assert.match(jails, /Jail list:\s+.*\bsshd\b/);
  assert.equal(JSON.parse(await run(node, "pvesh get /cluster/firewall/options --output-format json")).enable, 0);
  hardened.add(node.name);
}

for (const [label, pick] of RELEASES) {
  test(`the program's up with the README's default config hardens a ${label} node: ufw, fail2ban with both jails, the Proxmox firewall option`, { timeout: 600_000 }, async () => {
    await hardenNode(pick());
  });
}

for (const [label, pick] of RELEASES) {
  test(`a ${label} node rebooted after up is still hardened: ufw active, fail2ban running with both jails`, { timeout: 300_000 }, async (t) => {
    const node = pick();
    if (!hardened.has(node.name)) {
      t.todo("needs the up above to succeed");
      return;
    }
    const rebooted = await reboot(node);
    assert.notEqual(rebooted.pid, node.pid, `${node.name}: a new boot`);
    assert.equal((await run(rebooted, "journalctl --list-boots --no-pager -q | wc -l")).trim(), "2");
    assert.match(await run(rebooted, "ufw status"), /^Status: active$/m);
    assert.equal((await run(rebooted, "systemctl is-active fail2ban")).trim(), "active");
    const bothJails = (s: string) => /Jail list:.*\bproxmox\b/.test(s) && /Jail list:.*\bsshd\b/.test(s);
    assert.ok(await pollUntil(30_000, async () => bothJails(await run(rebooted, "fail2ban-client status").catch(() => ""))), `${rebooted.name}: both jails after the reboot`);
  });
}

for (const [label, pick] of RELEASES) {
  test(`destroy puts the ${label} node back as it was`, { timeout: 600_000 }, async (t) => {
    const node = pick();
    if (!hardened.has(node.name)) {
      t.todo("needs the up above to succeed");
      return;
    }
    const result = await programs[node.name].stack.destroy();
    assert.equal(result.summary.result, "succeeded");
    assert.deepEqual(await hostState(node), before_[node.name], node.name);
  });
}

test("a cluster's nodes share /etc/pve, talk corosync and report quorum; dropping corosync on one makes it inquorate", { timeout: 120_000 }, async () => {
  const [a, b, c] = cluster;
  // One /etc/pve: a file written on one member is there on the others, local is each node's own.
  await run(a, "echo shared > /etc/pve/firewall/probe.fw");
  assert.equal(await run(c, "cat /etc/pve/firewall/probe.fw"), "shared\n");
  await run(a, "rm /etc/pve/firewall/probe.fw");
  assert.match(await run(b, "ls /etc/pve/local"), /pve-ssl\.pem/);
  const conf = await run(b, "cat /etc/pve/corosync.conf");
  for (const [i, node] of cluster.entries()) {
    assert.match(conf, new RegExp(`node \\{\\n    name: ${node.name}\\n    nodeid: ${i + 1}\\n    quorum_votes: 1\\n    ring0_addr: ${node.address}\\n  \\}`));
  }
  assert.match(conf, /^quorum \{\n  provider: corosync_votequorum\n\}$/m);
  assert.match(conf, /^  cluster_name: pve-test$/m);
  const quorate = (node: SandboxHost) => pollUntil(15_000, async () => /^Quorate: +Yes$/m.test(await run(node, "pvecm status")), 500);
  for (const node of cluster) assert.ok(await quorate(node), `${node.name} quorate`);
  const status = await run(a, "pvecm status");
  assert.match(status, /^Nodes: +3$/m);
  assert.match(status, /^Total votes: +3$/m);
  assert.match(status, new RegExp(`^0x00000001 +1 ${a.address} \\(local\\)$`, "m"));
  assert.equal((await run(a, "ss -uln sport = :5405")).includes(`${a.address}:5405`), true);

  // A firewall on c that drops corosync: c loses the others, they keep quorum with two of three.
  await run(c, "iptables -I INPUT -p udp --dport 5405:5412 -j DROP");
  const split = await pollUntil(15_000, async () => /^Quorate: +No$/m.test(await run(c, "pvecm status")), 500);
  assert.ok(split, `${c.name} inquorate behind its firewall`);
  assert.match(await run(c, "pvecm status"), /^Quorum: +2 Activity blocked$/m);
  assert.match(await run(a, "pvecm status"), /^Quorate: +Yes$/m);
  await run(c, "iptables -D INPUT -p udp --dport 5405:5412 -j DROP");
  assert.ok(await quorate(c), `${c.name} quorate again`);
});

test("down removes every node, namespace, mount, cgroup and process, also without an inventory", { timeout: 120_000 }, async () => {
  for (const [name, program] of Object.entries(programs)) {
    await program.remove();
    delete programs[name];
  }
  // As after a crash: the inventory is gone, the nodes still run.
  fs.rmSync(INVENTORY_PATH);
  const report = await down();
  assert.ok(report.killedProcesses > 0);
  const sh = (cmd: string) => execFileSync("bash", ["-c", cmd], { encoding: "utf8" });
  assert.equal(sh(`ip netns list | grep '^${PREFIX}' || true`), "");
  assert.equal(sh(`grep -F ' ${SANDBOX_DIR}/' /proc/*/mountinfo 2>/dev/null | head -1 || true`), "");
  // Killed processes may take a moment to exit on a loaded machine: none may be left, within a bound.
  const inNodeCgroups = () => sh(`grep -l '^0::/${PREFIX}' /proc/[0-9]*/cgroup 2>/dev/null || true`);
  await pollUntil(15_000, async () => inNodeCgroups() === "", 500);
  assert.equal(inNodeCgroups(), "");
  assert.equal(fs.existsSync(`${SANDBOX_DIR}/nodes`), false);
  assert.equal(machineState(), machineBefore);
});
