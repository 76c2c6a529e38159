import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";

// The engine's ts-node only transpiles the program (tsconfig.json), so type
// errors are caught here instead of costing every `pulumi up` seconds.
const root = join(__dirname, "..", "..");

test("the whole project type-checks with tsc", () => {
  const result = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "--noEmit", "-p", root], { encoding: "utf8" });
  assert.equal(result.status, 0, `tsc --noEmit found errors:\n${result.stdout}${result.stderr}`);
});

test("the engine's ts-node is told to transpile only", () => {
  const { config, error } = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile);
  assert.equal(error, undefined);
  assert.equal(config["ts-node"]?.transpileOnly, true, "tsconfig.json: \"ts-node\": { \"transpileOnly\": true }");
});
