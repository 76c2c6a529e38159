import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { formatStepFailure, lastLines } from "../../scripts/steps.mjs";

const steps = join(__dirname, "..", "..", "scripts", "steps.mjs");

test("a failed step's message names the step, the command, the exit code, the output's tail and what to do", () => {
  const output = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n") + "\n\n";
  const message = formatStepFailure({ step: "the sandbox's Debian packages", command: ["bash", "sandbox/install-deps.sh"], exit: { code: 100 }, output, fix: "check apt" });
  assert.equal(
    message,
    [
      "[setup] step \"the sandbox's Debian packages\" failed: `bash sandbox/install-deps.sh` exited 100",
      "[setup] its last 20 line(s) of output:",
      ...Array.from({ length: 20 }, (_, i) => `    line ${i + 11}`),
      "[setup] what to do: check apt",
      "",
    ].join("\n"),
  );
});

test("a step ended by a signal, one that could not start, one that printed nothing", () => {
  assert.match(formatStepFailure({ step: "s", command: ["go", "build"], exit: { code: null, signal: "SIGKILL" }, output: "", fix: "f" }), /`go build` was ended by SIGKILL\n\[setup\] it printed nothing\n/);
  assert.match(formatStepFailure({ step: "s", command: ["nope"], exit: { error: "spawn nope ENOENT" }, output: "", fix: "f" }), /`nope` could not start: spawn nope ENOENT/);
  assert.deepEqual(lastLines("a\r\nb\n\n  \nc\n", 2), ["b", "c"]);
});

test("a real failing step prints that message and exits with the step's code, without a stack trace", () => {
  const program = `import { runStep } from ${JSON.stringify(steps)};
await runStep({ step: "demo step", command: ["sh", "-c", "echo fetched; echo 'E: Unable to locate package x' >&2; echo 'E: giving up' >&2; exit 3"], cwd: ".", fix: "do this" });
console.log("not reached");`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8", timeout: 30_000 });
  assert.equal(result.status, 3);
  assert.equal(result.stdout, "fetched\n", "the step's output is shown as it comes, nothing runs after the failure");
  assert.match(result.stderr, /^E: Unable to locate package x\nE: giving up\n\[setup\] step "demo step" failed: `sh -c .*` exited 3\n/);
  // stdout and stderr arrive on two pipes, so only each one's own order is certain.
  assert.match(result.stderr, /last 3 line\(s\) of output:\n(.*\n){3}\[setup\] what to do: do this\n$/);
  assert.match(result.stderr, /\n {4}fetched\n/);
  assert.match(result.stderr, /\n {4}E: Unable to locate package x\n( {4}fetched\n)? {4}E: giving up\n/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
});
