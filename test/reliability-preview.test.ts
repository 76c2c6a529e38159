import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { down, SandboxHost, up } from "../sandbox";
import { assertNamed, ENGINE_PREVIEWS, HostEntry, inputFigures } from "./support/bad-inputs";
import { changedFiles, fingerprint, HostFingerprint, hostSshCounter, mustFail, setRawConfig } from "./support/faults";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { writeFigures } from "./support/reliability-report";

// Issue 8, bad input on the real engine: examples of every category of the
// bad-input table (test/support/bad-inputs.ts) go through `pulumi preview`
// against a sandbox host. The engine shows the parser's messages, no SSH
// connection is opened (counted by the host's connection tracking, and by the
// program's metrics) and the host is untouched (checksums of every file
// the program manages, the ruleset inside the host, ufw and Proxmox state).

const started = Date.now();
let host: SandboxHost;
let program: ProgramStack;
let entry: HostEntry;
let before_: HostFingerprint;
/** New SSH connections the host saw since the last call. */
let sshSeen: () => Promise<number>;
let connections = 0;
let hostsChanged = 0;

before(async () => {
  await down();
  // A namespace host: preview never reaches a host, which only watches for connections and changes, alike on every release.
  const inventory = await up({ count: 1 });
  host = inventory.hosts[0];
  entry = { name: host.name, address: host.address, hostKey: host.hostPublicKey };
  program = await ProgramStack.create(`rel-input-${process.pid}`, sandboxConfig([{ host }]));
  sshSeen = await hostSshCounter(host);
  before_ = await fingerprint(host);
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 300_000 });

async function assertHostUntouched(what: string) {
  const now = await fingerprint(host);
  if (JSON.stringify(now) !== JSON.stringify(before_)) hostsChanged = 1;
  assert.deepEqual(changedFiles(before_, now), [], `${what}: files under /etc/ufw, /etc/fail2ban, /etc/pve unchanged`);
  assert.deepEqual(now, before_, `${what}: ruleset, ufw status and Proxmox options unchanged`);
}

test("the real engine's preview refuses each bad config with the same messages, without touching the host", { timeout: 900_000 }, async (t) => {
  for (const preview of ENGINE_PREVIEWS) {
    await t.test(preview.id, { timeout: 300_000 }, async () => {
      await setRawConfig(program.stack, preview.config(entry), { sshPrivateKeyPath: { value: host.privateKeyPath } });
      const { text } = await mustFail(`preview ${preview.id}`, () => program.stack.preview());
      assertNamed(text, preview.expect(entry), program.stack.name, "proxmox-hardening:", preview.id);
      assert.match(text, /nothing was sent to any host/);
      const hostSaw = await sshSeen();
      connections += hostSaw;
      assert.equal(hostSaw, 0, `${preview.id}: the host saw no SSH connection`);
      assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 }, `${preview.id}: the program's metrics: no connection, no command`);
    });
  }
  await assertHostUntouched("after the previews");
});

test("a hostCredentials secret that is not JSON fails preview without showing the secret", { timeout: 900_000 }, async () => {
  const secret = "Pr3view-secret-not-json-7f3a";
  await setRawConfig(program.stack, { hosts: [entry] }, { sshPrivateKeyPath: { value: host.privateKeyPath }, hostCredentials: { value: secret, secret: true } });
  const { text } = await mustFail("preview with a broken hostCredentials", () => program.stack.preview());
  assert.match(text, /hostCredentials is not valid JSON/);
  assert.ok(!text.includes(secret), "the secret is not in the error");
  const hostSaw = await sshSeen();
  connections += hostSaw;
  assert.equal(hostSaw, 0, "the host saw no SSH connection");
  assert.deepEqual(program.sshActivity(), { connections: 0, commands: 0 }, "the program's metrics: no connection, no command");
  await program.stack.removeConfig("hostCredentials");
  await assertHostUntouched("after the credentials preview");
  const figures = inputFigures();
  writeFigures({
    input: {
      configCases: figures.configCases,
      resourceCases: figures.resourceCases,
      enginePreviews: figures.enginePreviews,
      engineCategories: [...new Set(ENGINE_PREVIEWS.flatMap((p) => p.categories))],
      sshConnectionsDuringPreviews: connections,
      hostsChanged,
      seconds: Math.round((Date.now() - started) / 1000),
    },
  });
});
