import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { down, hostExec, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// A node reached as a sudo user whose sudoers entry needs no password (NOPASSWD), as many teams
// set up their automation accounts: sudo then reads nothing from standard input, so the program
// must not send it a password line, which would otherwise land in every file it writes.

let node: SandboxHost;
let program: ProgramStack;
let original: HostState;

before(async () => {
  await down();
  [node] = (await up({ count: 1, modes: ["journald"] })).hosts;
  const setup = await hostExec(node, `printf '%s\\n' '${node.sudoUser.name} ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/automation && chmod 0440 /etc/sudoers.d/automation && visudo -c`, { timeoutMs: 30_000 });
  assert.equal(setup.code, 0, setup.stderr);
  assert.equal((await hostExec(node, `su - ${node.sudoUser.name} -c 'sudo -k -n true'`, { timeoutMs: 30_000 })).code, 0, "sudo asks no password now");
  original = await hostState(node);
  program = await ProgramStack.create(`test-nopasswd-${process.pid}`, sandboxConfig([{ host: node, viaSudoUser: true }]));
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("up through a NOPASSWD sudo user writes every file exactly and hardens the node; destroy puts it back", { timeout: 600_000 }, async () => {
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.match(await run(node, "ufw status"), /^Status: active$/m);
  assert.match(await run(node, "fail2ban-client status"), /Jail list:\s+proxmox, sshd/);
  const defaults = await run(node, "cat /etc/fail2ban/jail.d/proxmox-hardening-defaults.local");
  assert.match(defaults, /^# managed by proxmox-hardening/, "the file starts with its header, not a password line");
  assert.ok(!defaults.includes(node.sudoUser.password));
  assert.equal((await program.stack.destroy()).summary.result, "succeeded");
  assert.deepEqual(await hostState(node), original);
});
