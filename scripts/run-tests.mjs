#!/usr/bin/env node
// Runs the test files with Node's test runner. Node 20's `--test` takes no
// glob patterns and finds no .ts files by itself, so the files are listed
// here: fast unit tests first, then the end-to-end suites, one file at a time
// (they share the machine's two cores and start sandbox hosts).
// Arguments narrow the run: `npm test -- unit` runs the files whose path contains "unit".
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "fixtures" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

const filters = process.argv.slice(2);
const files = testFiles(join(root, "test"))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort((a, b) => Number(!a.startsWith("test/unit/")) - Number(!b.startsWith("test/unit/")) || a.localeCompare(b));
if (files.length === 0) {
  process.stderr.write(`no test file matches ${filters.join(" ")}\n`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], { cwd: root, stdio: "inherit" });
if (result.status === null) process.stderr.write(`the test runner ${result.error ? `could not start: ${result.error.message}` : `was ended by ${result.signal}`}\n`);
process.exit(result.status ?? 1);
