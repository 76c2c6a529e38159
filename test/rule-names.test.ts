import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { down, SandboxHost, up } from "../sandbox";
import { HostState, hostState, run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// A rule's resource name comes from its match, so a new comment or action is an update in place.
// A long name (here IPv6 source and destination) is cut and hashed: the hash must be of the match
// alone, or a new comment makes a new resource, created first, whose old one's delete then takes
// the rule off the node while the state says it is there.

let node: SandboxHost;
let program: ProgramStack;
let original: HostState;

const webUi = { action: "allow", protocol: "tcp", port: 8006, comment: "proxmox web ui" };
const ssh = { action: "allow", protocol: "tcp", port: 22, comment: "ssh" };
const migration = (comment: string) => ({ action: "allow", protocol: "tcp", port: "60000:60050", from: "2001:db8:1234:5678::/64", to: "2001:db8:1234:5678::10", comment });
const withRules = (...rules: object[]) => sandboxConfig([{ host: node }], { ufw: { rules } });

before(async () => {
  await down();
  [node] = (await up({ count: 1, modes: ["journald"] })).hosts;
  original = await hostState(node);
  program = await ProgramStack.create(`test-rulenames-${process.pid}`, withRules(ssh, webUi, migration("migration")));
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("a long rule's new comment is an update in place: the rule stays on the node with the new comment", { timeout: 600_000 }, async () => {
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  assert.match(await run(node, "ufw status"), /^2001:db8:1234:5678::10 60000:60050\/tcp +ALLOW +2001:db8:1234:5678::\/64 +# migration$/m);
  await program.configure(withRules(ssh, webUi, migration("live migration")));
  const result = await program.stack.up();
  // Updates only (the rule, and the steps whose inputs list the rules); no create, no delete.
  assert.deepEqual(Object.keys(result.summary.resourceChanges ?? {}).sort(), ["same", "update"], JSON.stringify(result.summary.resourceChanges));
  assert.match(await run(node, "ufw status"), /^2001:db8:1234:5678::10 60000:60050\/tcp +ALLOW +2001:db8:1234:5678::\/64 +# live migration$/m);
  assert.equal((await program.stack.destroy()).summary.result, "succeeded");
  assert.deepEqual(await hostState(node), original);
});
