import assert from "node:assert/strict";
import { AddressInfo } from "node:net";
import { after, before, beforeEach, test } from "node:test";
import { Server, utils } from "ssh2";
import { HardeningError } from "../../providers/core/errors";
import { hostSessionsFor } from "../../providers/ssh/credentials";
import { HostConnection } from "../../providers/ssh/schema";


// An in-process sshd stand-in: it answers every command with "ok\n" and exit
// status 0 without running anything, and refuses session channels on demand
// the way OpenSSH does when MaxSessions is reached.

const PASSWORD = "transport-test-password";
const sessions = hostSessionsFor({ get: (key: string) => (key === "sshPassword" ? PASSWORD : undefined) });
const hostKey = utils.generateKeyPairSync("ed25519");
const seen = { sessions: 0, execs: 0 };
let refusals = 0;

const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
  // The client drops the connection on a wrong host key; that must not crash the test.
  client.on("error", () => undefined);
  client.on("authentication", (ctx) => {
    if (ctx.method === "password" && ctx.username === "root" && ctx.password === PASSWORD) ctx.accept();
    else ctx.reject(["password"]);
  });
  client.on("session", (accept, reject) => {
    seen.sessions++;
    if (refusals > 0) {
      refusals--;
      reject();
      return;
    }
    accept().on("exec", (acceptExec) => {
      seen.execs++;
      const channel = acceptExec();
      channel.write("ok\n");
      channel.exit(0);
      channel.end();
    });
  });
});

function connection(overrides: Partial<HostConnection> = {}): HostConnection {
  const { port } = server.address() as AddressInfo;
  return { name: "pve1", address: "127.0.0.1", port, user: "root", hostKey: hostKey.public, connectTimeoutSeconds: 5, commandTimeoutSeconds: 5, ...overrides };
}

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

beforeEach(() => {
  seen.sessions = 0;
  seen.execs = 0;
});

after(async () => {
  await sessions.closeAll();
  await new Promise((resolve) => server.close(resolve));
});

test("a refused channel is retried: the command runs once sshd has room again", async () => {
  refusals = 2;
  const session = await sessions.sessionFor(connection());
  const result = await session.run("true");
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "ok\n");
  assert.deepEqual(seen, { sessions: 3, execs: 1 });
});

test("a channel refused every time ends in one message naming the host and what to change", async () => {
  refusals = Infinity;
  const session = await sessions.sessionFor(connection());
  const error = await session.run("true").then(
    () => assert.fail("expected a failure"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof HardeningError, `a HardeningError, got ${String(error)}`);
  assert.ok(error.message.startsWith("[host pve1, resource ssh"), error.message);
  assert.match(error.message, /MaxSessions/);
  assert.deepEqual(seen, { sessions: 5, execs: 0 });
});

test("a wrong host key is refused before any command", async () => {
  refusals = 0;
  const other = utils.generateKeyPairSync("ed25519");
  const error = await sessions.sessionFor(connection({ hostKey: other.public })).then(
    () => assert.fail("expected a failure"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof HardeningError, `a HardeningError, got ${String(error)}`);
  assert.ok(error.message.includes("field hostKey]"), error.message);
  assert.equal(seen.sessions, 0);
});

test("connection errors after the connection is up are logged, not thrown: an unheard error event would end the provider process", async () => {
  const session = await sessions.sessionFor(connection());
  const client = (session as unknown as { client: import("node:events").EventEmitter }).client;
  // ssh2 may emit more than one (a keepalive timeout, then the socket's own error).
  assert.doesNotThrow(() => {
    client.emit("error", new Error("read ECONNRESET"));
    client.emit("error", new Error("Keepalive timeout"));
  });
});
