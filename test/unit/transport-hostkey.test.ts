// A host offers each of its host keys, and ssh2 asks for ed25519 first: a pinned ECDSA or RSA
// key line must make the connection ask for that type, or the host presents its ed25519 key and
// the pin is taken for a man in the middle. An in-process SSH server with both kinds of key.
import assert from "node:assert/strict";
import { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Server, utils } from "ssh2";
import { fingerprintOf, keyBlobOf } from "../../providers/ssh/hostkey";
import { hostSessionsFor } from "../../providers/ssh/credentials";
import { probeHostKey } from "../../providers/ssh/probe";
import { HostConnection } from "../../providers/ssh/schema";

const PASSWORD = "hostkey-test-password";
const ed25519 = utils.generateKeyPairSync("ed25519");
const ecdsa = utils.generateKeyPairSync("ecdsa", { bits: 256 });
const keyLine = (pair: { public: string }) => pair.public.trim().split(/\s+/).slice(0, 2).join(" ");

const server = new Server({ hostKeys: [ed25519.private, ecdsa.private] }, (client) => {
  client.on("error", () => undefined);
  client.on("authentication", (ctx) => (ctx.method === "password" && ctx.password === PASSWORD ? ctx.accept() : ctx.reject(["password"])));
  client.on("session", (accept) => {
    accept().on("exec", (acceptExec) => {
      const channel = acceptExec();
      channel.write("ok\n");
      channel.exit(0);
      channel.end();
    });
  });
});

const sessions = hostSessionsFor({ get: (key: string) => (key === "sshPassword" ? PASSWORD : undefined) });
const connection = (hostKey: string): HostConnection => {
  const { port } = server.address() as AddressInfo;
  return { name: "pve1", address: "127.0.0.1", port, user: "root", hostKey, connectTimeoutSeconds: 5, commandTimeoutSeconds: 5 };
};

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  await sessions.closeAll();
  await new Promise((resolve) => server.close(resolve));
});

test("a pinned ECDSA key line is the key the host presents: commands run, and retire's probe finds the same node", async () => {
  assert.match(keyLine(ecdsa), /^ecdsa-sha2-nistp256 /);
  const session = await sessions.sessionFor(connection(keyLine(ecdsa)));
  assert.equal((await session.run("true")).stdout, "ok\n");
  assert.deepEqual(await probeHostKey(connection(keyLine(ecdsa)), 5_000), { kind: "same", fingerprint: fingerprintOf(keyBlobOf(keyLine(ecdsa))!) });
});

test("an ed25519 key line or fingerprint still works; a fingerprint of another type is refused, saying which key the host presented", async () => {
  assert.equal((await (await sessions.sessionFor(connection(keyLine(ed25519)))).run("true")).code, 0);
  assert.equal((await (await sessions.sessionFor(connection(fingerprintOf(keyBlobOf(keyLine(ed25519))!)))).run("true")).code, 0);
  await assert.rejects(sessions.sessionFor(connection(fingerprintOf(keyBlobOf(keyLine(ecdsa))!))), /which is not the pinned key; no command was run \(the host's ssh-ed25519 key\)/);
});
