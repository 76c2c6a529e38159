// The benchmark's target verdicts (bench/report.ts) for a change measured side by side with the
// main it started from: each verdict follows the medians it names, and none is given unmeasured.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Measurement, targets, Tool } from "../../bench/report";

const m = (tool: Tool, op: string, hosts: number, seconds: number, hostCommands = 0): Measurement => ({
  tool,
  op,
  hosts,
  run: 1,
  wallMs: seconds * 1000,
  connections: op === "apply" ? hosts : 0,
  commands: 0,
  cpu: { local: 0, hostCommands, hostDaemons: 0 },
});

const line = (text: string, start: string) => text.split("\n").find((l) => l.startsWith(start)) ?? assert.fail(`no line "${start}" in:\n${text}`);

test("targets against the main a change started from: met and not met follow the medians", () => {
  const text = targets([
    m("project", "preview", 1, 2.0),
    m("project@abc1234", "preview", 1, 4.2),
    m("project", "apply", 1, 7.0),
    m("ansible", "apply", 1, 10.0),
    m("project", "noop", 1, 5.1),
    m("ansible", "noop", 1, 10.0),
    m("project", "apply", 20, 40.0, 20 * 1.5),
    m("floor", "apply", 20, 10.0, 20 * 1.0),
    m("ansible", "apply", 20, 80.0),
    m("project", "noop", 20, 8.0),
    m("ansible", "noop", 20, 80.0),
  ]);
  assert.equal(line(text, "- Preview on 1 host(s)"), "- Preview on 1 host(s) at most half of abc1234's: **met** (2.0 s vs 4.2 s: 0.48×).");
  assert.match(line(text, "- First apply on 1 host(s) at most 0.7×"), /\*\*met\*\* \(7\.0 s vs 10\.0 s: 0\.70×\)/);
  assert.match(line(text, "- No-op up on 1 host(s) at most 0.5×"), /\*\*not met\*\* \(5\.1 s vs 10\.0 s: 0\.51×\)/);
  assert.match(line(text, "- First apply on 20 host(s) at most 0.45×"), /\*\*not met\*\* \(40\.0 s vs 80\.0 s: 0\.50×\)/);
  assert.match(line(text, "- No-op up on 20 host(s) at most 0.1×"), /\*\*met\*\* \(8\.0 s vs 80\.0 s: 0\.10×\)/);
  assert.match(line(text, "- CPU of our commands in the hosts"), /\*\*not met\*\* \(1\.50 vs 1\.00 CPU s per host: 1\.50×\)/);
});

test("without a side-by-side commit there are no such verdicts, and a missing tool says not measured", () => {
  assert.doesNotMatch(targets([m("project", "preview", 1, 2.0)]), /at most half of/);
  const text = targets([m("project", "preview", 1, 2.0), m("project@abc1234", "apply", 1, 9.0)]);
  assert.match(line(text, "- Preview on 1 host(s)"), /: not measured \(2\.0 s vs – s: –\)\.$/);
  assert.match(line(text, "- CPU of our commands"), /: not measured\.$/);
});
