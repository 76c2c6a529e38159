import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

// The engine runs the program through tsx, which only transpiles (Pulumi.yaml),
// so type errors are caught here instead of at every `pulumi up`.
test("the whole project type-checks with tsc", () => {
  const root = join(__dirname, "..", "..");
  const result = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "--noEmit", "-p", root], { encoding: "utf8" });
  assert.equal(result.status, 0, `tsc --noEmit found errors:\n${result.stdout}${result.stderr}`);
});
