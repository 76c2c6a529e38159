// The profile names each remote script by what it does; scripts that join two steps are named by
// the step that costs, so the profile's table stays comparable with runs of older commits.

import assert from "node:assert/strict";
import { test } from "node:test";
import { categoryOf } from "../../bench/profile";
import { onFirstCliExit } from "../../bench/project";
import { rememberScript, rememberThenChangeScript } from "../../providers/ssh/before";
import { factsThenFilesScript, fileDumpScript } from "../../providers/ssh/files";
import { underHostLock } from "../../providers/ssh/lock";
import { commandLine } from "../../providers/ssh/quote";
import { owningPackageScript } from "../../providers/fail2ban/logic";
import { backendFactsScript } from "../../providers/fail2ban/service";
import { setArgs } from "../../providers/proxmox/logic";
import { factsScript } from "../../providers/preflight/logic";
import { preflightInputsSchema } from "../../providers/preflight/schema";

const record = rememberScript("p/s", "pve1", [{ key: "k", what: "k", before: null }]);

test("a change in its record's round trip is named by the change; a record alone as a record", () => {
  assert.equal(categoryOf(underHostLock(rememberThenChangeScript(record, commandLine(setArgs({ enable: "0" }))))), "pvesh set, after its record");
  assert.equal(categoryOf(underHostLock(rememberThenChangeScript(record, commandLine(["ufw", "--force", "enable"])))), "ufw --force enable, after its record");
  assert.equal(categoryOf(underHostLock(record)), "record what was before");
});

test("facts read with a file are named by the facts; a plain read stays a read", () => {
  assert.equal(categoryOf(factsThenFilesScript(owningPackageScript("/etc/fail2ban/filter.d/proxmox.conf"), ["/etc/fail2ban/filter.d/proxmox.conf"])), "dpkg-query + read file");
  assert.equal(categoryOf(factsThenFilesScript(backendFactsScript(["/var/log/daemon.log"]), ["/etc/fail2ban/jail.d/x.local"])), "backend facts + read file");
  assert.equal(categoryOf(fileDumpScript(["/etc/x"])), "read files (snapshot)");
  const preflight = preflightInputsSchema.parse({
    connection: { name: "pve1", address: "192.0.2.10", hostKey: "SHA256:7mVb1o2Jr1t1mHq2q1Dk3d6d8Yv3pBv1m3c4m5n6o7p" },
    label: "pve1-preflight",
    owner: "proxmox-hardening/test",
    packages: { needed: ["ufw"], install: true },
    ufw: { enabled: true, rules: [] },
    jails: [],
  });
  assert.equal(categoryOf(factsScript(preflight)), "preflight (facts, with fail2ban-client -t)", "the preflight reads files too, but its cost is its test");
});

test("the CLI's exit is timed at the end of the operation's own pulumi command, not of the API's stack output and history after it", async () => {
  const calls: string[] = [];
  const stack = {
    async runPulumiCmd(what: string) {
      calls.push(what);
      return `${what} done`;
    },
  };
  let exits = 0;
  const unwrap = onFirstCliExit(stack, () => exits++);
  assert.equal(await stack.runPulumiCmd("up"), "up done");
  assert.equal(exits, 1);
  await stack.runPulumiCmd("history");
  assert.equal(exits, 1, "only the first command's exit counts");
  unwrap();
  await stack.runPulumiCmd("up");
  assert.equal(exits, 1, "unwrapped");
  assert.deepEqual(calls, ["up", "history", "up"]);
  assert.throws(() => onFirstCliExit({}, () => undefined), /no runPulumiCmd/);
});
