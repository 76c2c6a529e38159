import assert from "node:assert/strict";
import { test } from "node:test";
import { createHash } from "node:crypto";
import { reloadTrigger, renderJail } from "../../providers/fail2ban/logic";
import { digestOf } from "../../providers/configfile/logic";
import { fail2banJail, fail2banReload } from "../../providers/fail2ban/provider";
import { referenceSshdJail } from "../../providers/fail2ban/schema";
import { sameInputs } from "../../providers/core/implementation";
import { clusterFirewall } from "../../providers/proxmox/provider";
import { ufwRule } from "../../providers/ufw/provider";
import { preflight } from "../../providers/preflight/provider";
import { preflightInputsSchema } from "../../providers/preflight/schema";
import { UfwRule } from "../../providers/ufw/schema";

// The providers' diff is pure: what preview reports without opening any
// connection. These call it the way the engine does, with old outputs and new inputs.

const connection = { name: "pve1", address: "192.0.2.10", port: 22, user: "root", hostKey: "SHA256:x", connectTimeoutSeconds: 15, commandTimeoutSeconds: 300 };
const rule = UfwRule.parse({ action: "allow", protocol: "tcp", port: 22, comment: "ssh" });
const ruleOuts = { connection, label: "r", rule, previous: { stored: [null, null] }, __provider: "old code" };

test("ufw rule: same inputs and another serialized provider are no change", async () => {
  assert.equal((await ufwRule.diff("id", ruleOuts, { connection, label: "r", rule, __provider: "new code" })).changes, false);
});

test("ufw rule: a new comment or action updates in place; a new port replaces, creating the new rule first", async () => {
  const comment = await ufwRule.diff("id", ruleOuts, { connection, label: "r", rule: { ...rule, comment: "ssh from anywhere" } });
  assert.deepEqual([comment.changes, comment.replaces], [true, []]);
  const port = await ufwRule.diff("id", ruleOuts, { connection, label: "r", rule: { ...rule, port: "2222" } });
  assert.deepEqual([port.changes, port.replaces, port.deleteBeforeReplace], [true, ["rule"], false]);
  const action = await ufwRule.diff("id", ruleOuts, { connection, label: "r", rule: { ...rule, action: "limit" } });
  assert.deepEqual([action.changes, action.replaces], [true, []]);
  const onBridge = await ufwRule.diff("id", ruleOuts, { connection, label: "r", rule: UfwRule.parse({ action: "allow", protocol: "tcp", port: 22, comment: "ssh", interface: "vmbr0" }) });
  assert.deepEqual(onBridge.replaces, ["rule"]);
});

test("ufw rule: inputs that normalize to the same rule are no change", async () => {
  const web = UfwRule.parse({ action: "allow", protocol: "tcp", port: "443,80" });
  const outs = { ...ruleOuts, rule: web };
  assert.equal((await ufwRule.diff("id", outs, { connection, label: "r", rule: UfwRule.parse({ action: "allow", protocol: "tcp", port: "80,443" }) })).changes, false);
});

test("a node re-addressed with the same key is updated in place, and the update runs nothing on it", async () => {
  for (const reach of [{ address: "127.0.0.1" }, { port: 1 }, { address: "127.0.0.1", port: 1, user: "ops" }]) {
    const moved = await ufwRule.diff("id", ruleOuts, { connection: { ...connection, ...reach }, label: "r", rule });
    assert.deepEqual([moved.changes, moved.replaces], [true, []], JSON.stringify(reach));
  }
  // 127.0.0.1:1 refuses at once: the update would fail if it tried to connect.
  const readdressed = { ...connection, address: "127.0.0.1", port: 1 };
  const updated = await ufwRule.update("id", ruleOuts, { connection: readdressed, label: "r", rule });
  assert.deepEqual(updated.outs, { ...ruleOuts, connection: readdressed });
  // with the rule changed too, the update does go to the node (and fails here, which shows it tried)
  await assert.rejects(ufwRule.update("id", ruleOuts, { connection: readdressed, label: "r", rule: { ...rule, comment: "other" } }));
});

test("another machine is a replacement, deleted on the old one first: another name, or another address with another key", async () => {
  const other = await ufwRule.diff("id", ruleOuts, { connection: { ...connection, address: "192.0.2.11", hostKey: "SHA256:y" }, label: "r", rule });
  assert.deepEqual([other.replaces, other.deleteBeforeReplace], [["connection"], true]);
  const renamed = await ufwRule.diff("id", ruleOuts, { connection: { ...connection, name: "pve9" }, label: "r", rule });
  assert.deepEqual(renamed.replaces, ["connection"]);
  const newKey = await ufwRule.diff("id", ruleOuts, { connection: { ...connection, hostKey: "SHA256:y" }, label: "r", rule });
  assert.deepEqual([newKey.changes, newKey.replaces], [true, []], "a re-keyed host at the same address is updated, not replaced");
});

test("cluster firewall: another cluster name replaces; an option updates", async () => {
  const outs = { connection, label: "c", cluster: "a", options: { enable: false }, previous: { enable: null } };
  assert.deepEqual((await clusterFirewall.diff("id", outs, { ...outs, previous: undefined, cluster: "b" })).replaces, ["cluster"]);
  const option = await clusterFirewall.diff("id", outs, { connection, label: "c", cluster: "a", options: { enable: true } });
  assert.deepEqual([option.changes, option.replaces], [true, []]);
});

test("fail2ban jail: a file edited on the host (refreshed digest) shows as a change; an unchanged one does not", async () => {
  const outs = { connection, label: "j", jail: referenceSshdJail, observed: { backend: "systemd" }, digest: digestOf(renderJail(referenceSshdJail, "systemd")) };
  const news = { connection, label: "j", jail: referenceSshdJail };
  assert.equal((await fail2banJail.diff("id", outs, news)).changes, false);
  assert.equal((await fail2banJail.diff("id", { ...outs, digest: "0000000000000000" }, news)).changes, true);
  const renamed = await fail2banJail.diff("id", outs, { ...news, jail: { ...referenceSshdJail, name: "ssh2" } });
  assert.deepEqual(renamed.replaces, ["jail"]);
});

test("fail2ban reload: an unchanged config gives the trigger every stack since 0.1.0 stores (no reload on upgrade); changed settings reload", async () => {
  const settings = { defaults: { bantime: "1h" }, jails: [{ name: "sshd" }] };
  // 0.1.0's program computed it from the files' write times, which it never got (undefined each).
  const stored = `${createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 16)};${[undefined, undefined, undefined, undefined].join(",")}`;
  assert.equal(reloadTrigger(settings, 4), stored);
  const olds = { connection: { name: "pve1" }, label: "pve1-fail2ban-reload", configuration: stored, jails: ["sshd"], restoreOnDestroy: "[]", previous: { wasRunning: true } };
  assert.equal((await fail2banReload.diff("id", olds, { ...olds, previous: undefined, observed: '{"failedBefore":[]}' })).changes, false);
  const changed = reloadTrigger({ ...settings, defaults: { bantime: "2h" } }, 4);
  assert.notEqual(changed, stored);
  assert.equal((await fail2banReload.diff("id", olds, { ...olds, configuration: changed })).changes, true);
});

test("sameInputs: outputs that differ only in bookkeeping (what the host had, a digest, the time written) are the same inputs", () => {
  const outs = { connection, label: "j", jail: referenceSshdJail, observed: { backend: "systemd" }, digest: "0000000000000000", written: "2026-01-01T00:00:00Z", previous: { present: false } };
  assert.equal(sameInputs(outs, { connection, label: "j", jail: referenceSshdJail }), true, "a file repaired after a hand edit");
  assert.equal(sameInputs(outs, { connection, label: "j", jail: { ...referenceSshdJail, maxretry: 4 } }), false, "a changed setting");
});

test("a new pinned key at the same address: the preflight goes to the node to check it is the same installation; the other resources run nothing", async () => {
  // 127.0.0.1:1 refuses at once: an update that tries to connect fails, which shows it tried.
  const local = { ...connection, address: "127.0.0.1", port: 1, hostKey: `SHA256:${"A".repeat(43)}`, connectTimeoutSeconds: 2 };
  const rekeyed = { ...local, hostKey: `SHA256:${"B".repeat(43)}` };
  const outs = { ...ruleOuts, connection: local };
  assert.deepEqual((await ufwRule.update("id", outs, { connection: rekeyed, label: "r", rule })).outs, { ...outs, connection: rekeyed });
  const preflightOuts = preflightInputsSchema.parse({
    connection: local,
    label: "pve1-preflight",
    owner: "proxmox-hardening/test",
    packages: { needed: ["ufw"], install: true },
    ufw: { enabled: true, rules: [] },
    jails: [],
  });
  await assert.rejects(preflight.update("id", preflightOuts, { ...preflightOuts, connection: rekeyed }), /could not open an SSH connection/);
  // the same key (re-addressed): nothing to check
  assert.deepEqual((await preflight.update("id", preflightOuts, { ...preflightOuts, connection: { ...local, address: "127.0.0.2" } })).outs.connection.address, "127.0.0.2");
});
