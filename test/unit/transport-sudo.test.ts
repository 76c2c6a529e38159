// Commands as a user other than root go through sudo, the password on stdin before the script's
// own input. Where sudoers lets the user in without a password (NOPASSWD), sudo reads nothing, so
// no password line may be sent: it would reach the script (a file's content, the filter's
// samples). An in-process SSH server runs each command with sh, and a `sudo` stand-in on its
// PATH that behaves as sudo does for -k -n -S -p: asks for the password (user "ops") or not
// (user "nopw").
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Server, utils } from "ssh2";
import { hostSessionsFor } from "../../providers/ssh/credentials";
import { HostConnection } from "../../providers/ssh/schema";

const LOGIN_PASSWORD = "login-password";
const SUDO_PASSWORD = "sudo-password";
const hostKey = utils.generateKeyPairSync("ed25519");
const bin = mkdtempSync(join(tmpdir(), "phs-fake-sudo-"));
const commands: string[] = [];

/** sudo for -k, -n, -S, -p PROMPT, -- COMMAND...: with "ask", reads one line and wants SUDO_PASSWORD. */
const fakeSudo = (ask: boolean) => `#!/bin/sh
n=
while [ $# -gt 0 ]; do
  case "$1" in -k|-S) ;; -n) n=1 ;; -p) shift ;; --) shift; break ;; *) break ;; esac
  shift
done
if ${ask ? "true" : "false"}; then
  [ -n "$n" ] && { echo "sudo: a password is required" >&2; exit 1; }
  IFS= read -r password || password=
  [ "$password" = ${SUDO_PASSWORD} ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
fi
exec "$@"
`;

// A directory per user holding just its `sudo`, first on that user's PATH.
for (const [user, ask] of [["ops", true], ["nopw", false]] as const) {
  mkdirSync(join(bin, user));
  writeFileSync(join(bin, user, "sudo"), fakeSudo(ask));
  chmodSync(join(bin, user, "sudo"), 0o755);
}

const server = new Server({ hostKeys: [hostKey.private] }, (client) => {
  let user = "";
  client.on("error", () => undefined);
  client.on("authentication", (ctx) => {
    if (ctx.method === "password" && ctx.password === LOGIN_PASSWORD && ["ops", "nopw"].includes(ctx.username)) {
      user = ctx.username;
      ctx.accept();
    } else ctx.reject(["password"]);
  });
  client.on("session", (accept) => {
    accept().on("exec", (acceptExec, _reject, info) => {
      commands.push(`${user}: ${info.command}`);
      const channel = acceptExec();
      const child = spawn("sh", ["-c", info.command], { env: { PATH: `${join(bin, user)}:/usr/bin:/bin` } });
      channel.pipe(child.stdin);
      child.stdout.pipe(channel, { end: false });
      child.stderr.pipe(channel.stderr, { end: false });
      child.on("close", (code) => {
        channel.exit(code ?? 1);
        channel.end();
      });
    });
  });
});

const sessions = hostSessionsFor({ get: (key: string) => ({ sshPassword: LOGIN_PASSWORD, sudoPassword: SUDO_PASSWORD })[key] });

function connection(user: string): HostConnection {
  const { port } = server.address() as AddressInfo;
  return { name: `pve-${user}`, address: "127.0.0.1", port, user, hostKey: hostKey.public, connectTimeoutSeconds: 5, commandTimeoutSeconds: 10 };
}

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  await sessions.closeAll();
  await new Promise((resolve) => server.close(resolve));
  rmSync(bin, { recursive: true, force: true });
});

for (const user of ["ops", "nopw"]) {
  test(`sudo ${user === "ops" ? "asking for a password" : "without a password (NOPASSWD)"}: the script gets exactly its own input, never the password`, async () => {
    const session = await sessions.sessionFor(connection(user));
    const content = "line one\nline two\n";
    for (let i = 0; i < 2; i++) {
      const result = await session.run("cat", { stdin: content });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, content);
      assert.ok(!result.stdout.includes(SUDO_PASSWORD));
    }
    // Asked once per connection.
    assert.equal(commands.filter((command) => command === `${user}: sudo -k -n true`).length, 1, commands.join("\n"));
  });
}
