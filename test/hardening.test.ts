import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { renderFilter } from "../providers/fail2ban/logic";
import { proxmoxFilterDefaults } from "../providers/fail2ban/schema";
import { down, Inventory, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "./support/program";

// Issue 4's acceptance on the real engine: the program hardens a syslog-style
// host as root and a journald-style host (Proxmox VE 8 default) through a sudo
// user, in one stack, then survives drift, a config change and destroy.

let inventory: Inventory;
let pve1: SandboxHost;
let pve2: SandboxHost;
let program: ProgramStack;
const before_: Record<string, HostState> = {};

const JAIL_LOCAL = "# my own settings\n[sshd]\nmode = aggressive\n";

before(async () => {
  await down();
  inventory = await up({ count: 2, modes: ["syslog", "journald"] });
  [pve1, pve2] = inventory.hosts;
  // What a user already has on pve1: their own jail.local, a rule of their own, the Proxmox firewall on.
  await run(pve1, `printf '%s' '${JAIL_LOCAL}' > /etc/fail2ban/jail.local`);
  await run(pve1, "ufw allow 2222/tcp comment 'made by hand'");
  await run(pve1, "pvesh set /cluster/firewall/options --enable 1");
  before_.pve1 = await hostState(pve1);
  before_.pve2 = await hostState(pve2);
  program = await ProgramStack.create(`test-harden-${process.pid}`, sandboxConfig([{ host: pve1 }, { host: pve2, viaSudoUser: true }]));
});

after(async () => {
  await program?.remove();
  await down();
});

test("preview lists every resource and opens no SSH connection", async () => {
  const preview = await program.stack.preview();
  // Per host: preflight, packages, firewall option, ufw baseline, 2 rules, ufw defaults, activation, filter, f2b defaults, 2 jails, reload, component.
  assert.deepEqual(preview.changeSummary, { create: 1 + 2 * 14 });
  assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 });
});

test("up hardens both hosts to the reference end state, in parallel, one connection per host", async () => {
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  assert.equal(program.sshActivity().connections, 2);
  for (const host of [pve1, pve2]) {
    const options = JSON.parse(await run(host, "pvesh get /cluster/firewall/options --output-format json"));
    assert.equal(options.enable, 0, `${host.name}: Proxmox firewall off`);
    const status = await run(host, "ufw status verbose");
    assert.match(status, /^Status: active$/m);
    assert.match(status, /^Default: deny \(incoming\), allow \(outgoing\)/m);
    for (const port of ["22", "8006"]) {
      assert.match(status, new RegExp(`^${port}/tcp +ALLOW IN +Anywhere`, "m"), `${host.name}: ${port}/tcp v4`);
      assert.match(status, new RegExp(`^${port}/tcp \\(v6\\) +ALLOW IN +Anywhere \\(v6\\)`, "m"), `${host.name}: ${port}/tcp v6`);
    }
    assert.equal(await run(host, "cat /etc/fail2ban/filter.d/proxmox.conf"), renderFilter(proxmoxFilterDefaults));
    const defaults = await run(host, "cat /etc/fail2ban/jail.d/proxmox-hardening-defaults.local");
    assert.match(defaults, /^bantime = 3600$/m);
    assert.match(defaults, /^findtime = 300$/m);
    assert.match(defaults, /^maxretry = 3$/m);
    const jails = await run(host, "fail2ban-client status");
    assert.match(jails, /Jail list:\s+.*\bproxmox\b/);
    assert.match(jails, /Jail list:\s+.*\bsshd\b/);
  }
  // The journald-style host reads the journal; the syslog host its files.
  assert.match(await run(pve2, "cat /etc/fail2ban/jail.d/proxmox-hardening-jail-proxmox.local"), /^backend = systemd$/m);
  assert.match(await run(pve2, "fail2ban-client status proxmox"), /Journal matches:\s+SYSLOG_IDENTIFIER=pvedaemon/);
  assert.match(await run(pve1, "fail2ban-client status sshd"), /File list:\s+\/var\/log\/auth\.log/);
  // What the user had stays: their rule and their jail.local.
  assert.match(await run(pve1, "ufw status"), /^2222\/tcp +ALLOW +Anywhere +# made by hand$/m);
  assert.equal(await run(pve1, "cat /etc/fail2ban/jail.local"), JAIL_LOCAL);
});

test("a second up and a second preview change nothing", async () => {
  const up2 = await program.stack.up();
  assert.deepEqual(Object.keys(up2.summary.resourceChanges ?? {}), ["same"]);
  const preview = await program.stack.preview();
  assert.deepEqual(Object.keys(preview.changeSummary), ["same"]);
  assert.equal(program.sshActivity().connections, 0);
});

test("drift made by hand shows in preview --refresh and the next up --refresh repairs it", async () => {
  await run(pve1, "ufw delete allow in proto tcp from any to any port 8006");
  await run(pve1, "sed -i 's/^bantime = 3600$/bantime = 60/' /etc/fail2ban/jail.d/proxmox-hardening-defaults.local");
  await run(pve1, "pvesh set /cluster/firewall/options --enable 1");
  const preview = await program.stack.preview({ refresh: true });
  assert.equal(preview.changeSummary.create, 1, "the deleted rule is created again");
  assert.ok((preview.changeSummary.update ?? 0) >= 2, "firewall option and fail2ban defaults are updated");
  const repaired = await program.stack.up({ refresh: true });
  assert.equal(repaired.summary.result, "succeeded");
  assert.match(await run(pve1, "ufw status"), /^8006\/tcp +ALLOW +Anywhere/m);
  assert.match(await run(pve1, "cat /etc/fail2ban/jail.d/proxmox-hardening-defaults.local"), /^bantime = 3600$/m);
  assert.equal(JSON.parse(await run(pve1, "pvesh get /cluster/firewall/options --output-format json")).enable, 0);
  assert.match(await run(pve1, "fail2ban-client get proxmox bantime"), /^3600$/m);
});

test("a config change updates in place and replaces nothing", async () => {
  await program.configure(
    sandboxConfig([{ host: pve1 }, { host: pve2, viaSudoUser: true }], {
      fail2ban: { defaults: { maxretry: 5, ignoreip: ["127.0.0.1/8", "::1", "203.0.113.7"] } },
      ufw: { extraRules: [{ action: "allow", protocol: "tcp", port: 9100, from: "203.0.113.0/24", comment: "node exporter" }] },
    }),
  );
  const preview = await program.stack.preview();
  assert.equal(preview.changeSummary.create, 2, "one new rule per host");
  assert.equal(preview.changeSummary.update, 4, "fail2ban defaults and reload per host");
  assert.equal(preview.changeSummary.replace, undefined);
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  for (const host of [pve1, pve2]) {
    assert.match(await run(host, "fail2ban-client get sshd maxretry"), /^5$/m);
    assert.match(await run(host, "fail2ban-client get sshd ignoreip"), /203\.0\.113\.7/);
    assert.match(await run(host, "ufw status"), /^9100\/tcp +ALLOW +203\.0\.113\.0\/24 +# node exporter$/m);
  }
});

test("destroy returns both hosts to exactly their previous state", async () => {
  const result = await program.stack.destroy();
  assert.equal(result.summary.result, "succeeded");
  for (const [name, host] of [["pve1", pve1], ["pve2", pve2]] as const) {
    const now = await hostState(host);
    assert.deepEqual(now.files, before_[name].files, `${name}: every file byte-identical, same mode and owner`);
    assert.equal(now.ufwStatus, before_[name].ufwStatus, `${name}: ufw as before`);
    assert.deepEqual(now.pveshOptions, before_[name].pveshOptions, `${name}: Proxmox firewall options as before`);
  }
  assert.match(before_.pve1.ufwStatus, /^Status: inactive$/m);
  assert.equal(before_.pve1.pveshOptions.enable, 1);
});
