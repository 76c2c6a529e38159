import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

// An end-to-end step that hangs (an engine operation, a host that stops answering) must fail
// within its bound, with Node's test runner naming the test or hook that hung, rather than run
// until CI's own limit. So every test, subtest and hook of the end-to-end files carries a timeout.

const testDir = join(__dirname, "..");
const e2eFiles = readdirSync(testDir).filter((name) => name.endsWith(".test.ts"));

test("every end-to-end test, subtest and hook has a timeout", () => {
  assert.ok(e2eFiles.length >= 5, `end-to-end files found: ${e2eFiles.join(", ")}`);
  const unbounded: string[] = [];
  for (const file of e2eFiles) {
    const lines = readFileSync(join(testDir, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      if (/^\s*(await )?(t\.)?test\(/.test(line) && !/\{ timeout: [\d_]+ \}/.test(line)) unbounded.push(`${file}:${i + 1}: ${line.trim()}`);
      // A hook's options follow its function: the line that closes it at column 0.
      if (/^(before|after)\(/.test(line)) {
        const close = lines.findIndex((other, j) => j > i && other.startsWith("}"));
        if (!/^\}, \{ timeout: [\d_]+ \}\);$/.test(lines[close] ?? "")) unbounded.push(`${file}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(unbounded, []);
});
