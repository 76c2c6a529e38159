import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HardeningError } from "../providers/core/errors";
import { fail2banFilter, fail2banReload } from "../providers/fail2ban/provider";
import { proxmoxFilterDefaults } from "../providers/fail2ban/schema";
import { parseProgramConfig } from "../providers/host/config";
import { clusterFirewall } from "../providers/proxmox/provider";
import { hostSessionsFor } from "../providers/ssh/credentials";
import { HostConnection } from "../providers/ssh/schema";
import { HostSessions } from "../providers/ssh/transport";
import { ufwActivation, ufwRule } from "../providers/ufw/provider";
import { UfwRule } from "../providers/ufw/schema";
import { down, hostExec, SandboxHost, up } from "../sandbox";

// Every resource records what was there before under its stack: direct calls name one, as the program does.
const OWNER = `proxmox-hardening/test-messages-${process.pid}`;

// Every failure a user can meet, triggered for real against a sandbox host
// through the provider implementations, and the one message each prints:
// which host, which resource, what was attempted, what the host answered,
// and what to do next. Secrets never appear in it.

let host: SandboxHost;
// Generous: the handshake includes authentication, and sshd delays every
// failed password by ~2 s (pam_unix), more on a loaded CI machine.
const CONNECT_TIMEOUT_SECONDS = 15;
const SUDO_SECRET_MARKER = "sudo";

function connection(overrides: Partial<HostConnection> = {}): HostConnection {
  return { name: host.name, address: host.address, port: host.sshPort, user: "root", hostKey: host.hostPublicKey, connectTimeoutSeconds: CONNECT_TIMEOUT_SECONDS, commandTimeoutSeconds: 5, ...overrides };
}

let sessions: HostSessions;

/** The stack's credentials as the engine's configure step gives them to every provider used here. */
async function useCredentials(values: Record<string, string>): Promise<void> {
  const config = { get: (key: string) => values[key] };
  sessions = hostSessionsFor(config);
  for (const provider of [clusterFirewall, ufwRule, ufwActivation, fail2banFilter, fail2banReload]) await provider.configure({ config });
}

/** Runs `action`, expects a HardeningError, checks the parts every message must have, returns it. */
async function failure(action: () => Promise<unknown>, parts: { resource: RegExp; problem: RegExp; next: RegExp; field?: string; remote?: boolean }): Promise<string> {
  await sessions?.closeAll();
  const error = await action().then(
    () => assert.fail("expected a failure"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof HardeningError, `a HardeningError, got ${String(error)}`);
  const message = error.message;
  assert.match(message, new RegExp(`^\\[host ${host.name}, resource `), message);
  assert.match(message, parts.resource, message);
  if (parts.field) assert.ok(message.includes(`field ${parts.field}]`), message);
  assert.match(message, parts.problem, message);
  assert.match(message, /\n {2}next: \S/, message);
  if (parts.remote) {
    assert.match(message, /\n {2}ran: \S/, message);
    assert.match(message, /\n {2}exit code: /, message);
  }
  return message;
}

before(async () => {
  await down();
  // A namespace host: these messages are the transport's and providers' own, alike on both releases; those worded by the release's fail2ban run on nodes of both in reliability.test.ts.
  [host] = (await up({ count: 1 })).hosts;
}, { timeout: 300_000 });

after(async () => {
  await sessions?.closeAll();
  await down();
}, { timeout: 300_000 });

test("a changed host key is refused before any command runs", { timeout: 300_000 }, async () => {
  await useCredentials({ sshPrivateKeyPath: host.privateKeyPath });
  const otherKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ";
  await failure(() => sessions.sessionFor(connection({ hostKey: otherKey })), {
    resource: /resource ssh root@/,
    field: "hostKey",
    problem: new RegExp(`presented key ${host.hostKeyFingerprint.replace(/[+/]/g, "\\$&")}, which is not the pinned key; no command was run`),
    next: /update hostKey/,
  });
});

test("wrong credentials: authentication failed, with what to set", { timeout: 300_000 }, async () => {
  await useCredentials({ sshPassword: "not-the-password" });
  const message = await failure(() => sessions.sessionFor(connection()), { resource: /resource ssh/, field: "credentials", problem: /SSH authentication failed for user root/, next: /sshPrivateKey/ });
  assert.doesNotMatch(message, /not-the-password/);
});

test("nothing listening: the connection is given up after bounded retries", { timeout: 300_000 }, async () => {
  await useCredentials({ sshPrivateKeyPath: host.privateKeyPath });
  const started = Date.now();
  await failure(() => sessions.sessionFor(connection({ port: 2222 })), { resource: /resource ssh root@.*:2222/, problem: /could not open an SSH connection after 3 attempts/, next: /reachable.*ufw `limit` rule/ });
  assert.ok(Date.now() - started < 3 * CONNECT_TIMEOUT_SECONDS * 1000 + 5000, "within the connect timeouts and backoff");
});

test("a non-root user whose sudo password is wrong", { timeout: 300_000 }, async () => {
  await useCredentials({ sshPassword: host.sudoUser.password, sudoPassword: "wrong-sudo-secret" });
  const message = await failure(
    () => clusterFirewall.create({ connection: connection({ user: host.sudoUser.name }), owner: OWNER, label: "c1", cluster: "c1", options: { enable: false } }),
    { resource: /resource ssh/, field: "sudoPassword", problem: /sudo refused to run commands as root for user ops/, next: /sudoPassword/, remote: true },
  );
  assert.doesNotMatch(message, /wrong-sudo-secret/);
  assert.doesNotMatch(message, new RegExp(host.sudoUser.password));
  assert.ok(message.includes(SUDO_SECRET_MARKER));
});

test("a remote step that hangs is stopped at the host's timeout", { timeout: 300_000 }, async () => {
  await useCredentials({ sshPrivateKeyPath: host.privateKeyPath });
  await hostExec(host, "mkdir -p /run/lock && printf '#!/bin/sh\\nsleep 30\\n' > /run/pvesh-slow && chmod +x /run/pvesh-slow && mount --bind /run/pvesh-slow /usr/bin/pvesh");
  try {
    await failure(() => clusterFirewall.create({ connection: connection(), owner: OWNER, label: "c1", cluster: "c1", options: { enable: false } }), {
      resource: /resource ssh/,
      problem: /did not finish within 5 s/,
      next: /commandTimeoutSeconds/,
      remote: true,
    });
  } finally {
    await hostExec(host, "umount /usr/bin/pvesh");
  }
});

test("pvesh failing: the command, its exit code and stderr, and where to look", { timeout: 300_000 }, async () => {
  await hostExec(host, "printf '#!/bin/sh\\necho \"ipcc_send_rec[1] failed: Connection refused\" >&2\\nexit 255\\n' > /run/pvesh-down && chmod +x /run/pvesh-down && mount --bind /run/pvesh-down /usr/bin/pvesh");
  try {
    const message = await failure(() => clusterFirewall.create({ connection: connection(), owner: OWNER, label: "c1", cluster: "c1", options: { enable: false } }), {
      resource: /resource proxmox:ClusterFirewall c1/,
      problem: /pvesh get \/cluster\/firewall\/options --output-format json failed/,
      next: /pve-cluster/,
      remote: true,
    });
    assert.match(message, /exit code: 255/);
    assert.match(message, /ipcc_send_rec\[1\] failed: Connection refused/);
  } finally {
    await hostExec(host, "umount /usr/bin/pvesh");
  }
});

test("ufw refusing a command: the ufw command line and its error", { timeout: 300_000 }, async () => {
  await hostExec(host, "printf '#!/bin/sh\\necho \"ERROR: problem running ufw-init\" >&2\\nexit 1\\n' > /run/ufw-broken && chmod +x /run/ufw-broken && mount --bind /run/ufw-broken /usr/sbin/ufw");
  try {
    const rule = UfwRule.parse({ action: "allow", protocol: "tcp", port: 22 });
    const message = await failure(() => ufwRule.create({ connection: connection(), owner: OWNER, label: "allow-ssh", rule }), {
      resource: /resource ufw:Rule allow-ssh/,
      field: "rule",
      problem: /ufw allow in proto tcp from any to any port 22 failed/,
      next: /ufw status verbose/,
      remote: true,
    });
    assert.match(message, /ERROR: problem running ufw-init/);
  } finally {
    await hostExec(host, "umount /usr/sbin/ufw");
  }
});

/** Asks to switch ufw on with the reference guard and expects the refusal `problem`; ufw stays off. */
async function activationRefused(problem: RegExp, next: RegExp): Promise<void> {
  const guard = { sshPort: 22, incoming: "deny" as const, allowForwardDeny: false, rules: [] };
  await failure(() => ufwActivation.create({ connection: connection(), owner: OWNER, label: "activation", enabled: true, guard }), {
    resource: /resource ufw:Activation activation/,
    field: "enabled",
    problem,
    next,
  });
  assert.match((await hostExec(host, "ufw status")).stdout, /Status: inactive/);
}

test("ufw activation refused when the host's own rules would lock the program out", { timeout: 300_000 }, async () => {
  await hostExec(host, "ufw deny 22/tcp");
  try {
    await activationRefused(/ufw was not switched on: this program's SSH connection comes from \S+ \(as the host sees it, .*rule 1 \(deny in proto tcp from any to any port 22\) denies it first/, /refresh/);
  } finally {
    await hostExec(host, "ufw delete deny 22/tcp");
  }
});

test("ufw activation refused where bridge netfilter would cut every guest's traffic", { timeout: 300_000 }, async () => {
  await hostExec(host, "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables");
  try {
    await activationRefused(/routed policy "deny" with bridge netfilter on .* every VM's and container's new connections would be dropped/, /allowForwardDeny/);
  } finally {
    await hostExec(host, "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables");
  }
});

test("a filter whose samples do not match is not installed", { timeout: 300_000 }, async () => {
  const filter = { ...proxmoxFilterDefaults, samples: { match: ["Nov 25 13:40:01 pve1 pvedaemon[1]: something else entirely rhost=192.0.2.1"], noMatch: [] } };
  const message = await failure(() => fail2banFilter.create({ connection: connection(), owner: OWNER, label: "proxmox-filter", filter }), {
    resource: /resource fail2ban:Filter proxmox-filter/,
    field: "filter.samples",
    problem: /samples do not behave on the host.*\n.*should match but does not: Nov 25 13:40:01 pve1 pvedaemon\[1\]: something else/,
    next: /fail2ban-regex/,
  });
  assert.ok(message.length < 2000);
  assert.equal((await hostExec(host, "test -e /etc/fail2ban/filter.d/proxmox.conf")).code, 1, "no filter file written");
});

test("a broken fail2ban configuration is not reloaded, and fail2ban keeps running", { timeout: 300_000 }, async () => {
  await hostExec(host, "printf '[sshd]\\nenabled = true\\nfilter = no-such-filter\\n' > /etc/fail2ban/jail.d/zz-broken.local");
  try {
    const message = await failure(() => fail2banReload.create({ connection: connection(), owner: OWNER, label: "reload", configuration: "x", jails: ["sshd"] }), {
      resource: /resource fail2ban:Reload reload/,
      field: "jails",
      problem: /fail2ban-client -t rejected the configuration; fail2ban was not reloaded and keeps running on its previous configuration/,
      next: /fail2ban-client -t/,
      remote: true,
    });
    assert.match(message, /no-such-filter/);
    assert.equal((await hostExec(host, "fail2ban-client ping")).code, 0, "fail2ban still runs");
  } finally {
    await hostExec(host, "rm -f /etc/fail2ban/jail.d/zz-broken.local");
  }
});

test("bad config fails before any host is contacted, naming host, resource and key", { timeout: 300_000 }, () => {
  assert.throws(
    () => parseProgramConfig({ hosts: [{ name: "pve9", address: "192.0.2.9", hostKey: host.hostPublicKey, port: 2222 }] }, "prod"),
    (error: Error) =>
      /\[host pve9, resource stack prod config, field proxmox-hardening:hosts\[0\]\.port\] host pve9: ufw would be active/.test(error.message) &&
      /next: fix the value/.test(error.message),
  );
});
