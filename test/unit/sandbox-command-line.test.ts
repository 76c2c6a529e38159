import assert from "node:assert/strict";
import { test } from "node:test";
import { Command, parseCommandLine, UsageError } from "../../sandbox/command-line";

const line = (text: string) => (text ? text.split(" ") : []);

test("every command and option of the sandbox CLI, as the README writes them", () => {
  const cases: Array<[string, Command]> = [
    ["up 3", { name: "up", up: { count: 3, nodes: [], journald: false, modes: undefined, concurrency: undefined } }],
    ["up", { name: "up", up: { count: 1, nodes: [], journald: false, modes: undefined, concurrency: undefined } }],
    ["up 3 --journald --concurrency 2", { name: "up", up: { count: 3, nodes: [], journald: true, modes: undefined, concurrency: 2 } }],
    ["up 3 --mode syslog,syslog,journald", { name: "up", up: { count: 3, nodes: [], journald: false, modes: ["syslog", "syslog", "journald"], concurrency: undefined } }],
    ["up 2 --mode=journald", { name: "up", up: { count: 2, nodes: [], journald: false, modes: ["journald", "journald"], concurrency: undefined } }],
    ["up --nodes debian13,debian12", { name: "up", up: { count: 0, nodes: [{ release: "trixie", mode: "journald" }, { release: "bookworm", mode: "journald" }], journald: false, modes: undefined, concurrency: undefined } }],
    ["up 2 --nodes debian12:syslog --cluster pve-test", { name: "up", up: { count: 2, nodes: [{ release: "bookworm", mode: "syslog", cluster: "pve-test" }], journald: false, modes: undefined, concurrency: undefined } }],
    ["down", { name: "down" }],
    ["status", { name: "status" }],
    ["reboot pve1", { name: "reboot", node: "pve1" }],
    ["exec pve1 ls -l /etc", { name: "exec", host: "pve1", command: "ls -l /etc" }],
    ["--help", { name: "help" }],
    ["up --help", { name: "help" }],
    ["exec -h", { name: "help" }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseCommandLine(line(text)), expected, text);
});

test("a wrong command line fails with a message that names the command and what is wrong", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /^name a command$/],
    ["frob", /^unknown command: frob$/],
    ["up --bogus", /^up: Unknown option '--bogus'/],
    ["up --mode", /^up: Option '--mode <value>' argument missing/],
    ["up --mode foo", /^up: --mode takes syslog or journald .* got foo$/],
    ["up --nodes debian11", /^up: --nodes takes debian13 or debian12.* got "debian11"$/],
    ["up --concurrency x", /^up: --concurrency takes a whole number from 1, got x$/],
    ["up 2 3", /^up: one host count N, got 2 3$/],
    ["down extra", /^down: Unexpected argument 'extra'/],
    ["status --force", /^status: Unknown option '--force'/],
    ["reboot", /^reboot: name one node$/],
    ["reboot pve1 pve2", /^reboot: name one node$/],
    ["exec pve1", /^exec: name a host and a command$/],
    ["exec -x pve1 ls", /^exec: Unknown option '-x'/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseCommandLine(line(text)), (error: unknown) => error instanceof UsageError && message.test(error.message), text);
  }
});
