#!/usr/bin/env node
// Everything a fresh machine needs before the tests or the demo run, in one
// idempotent step: npm packages, the sandbox's Debian packages, and the Pulumi
// toolchain. Each part checks first and returns in a moment when done.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const say = (message) => process.stderr.write(`[setup] ${message}\n`);

function npmPackagesCurrent() {
  const installed = join(root, "node_modules", ".package-lock.json");
  if (!existsSync(installed)) return false;
  const want = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages;
  const have = JSON.parse(readFileSync(installed, "utf8")).packages;
  // Optional packages for other platforms (esbuild's, fsevents) are never installed here.
  return Object.keys(want).every((name) => name === "" || have[name]?.version === want[name].version || (want[name].optional && !have[name]));
}

if (!npmPackagesCurrent()) {
  say("installing npm packages (npm ci)");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

const sandboxDeps = join(root, "sandbox", "install-deps.sh");
if (existsSync(sandboxDeps) && process.platform === "linux" && process.getuid?.() === 0) {
  execFileSync("bash", [sandboxDeps], { cwd: root, stdio: "inherit" });
}

execFileSync(process.execPath, [join(root, "scripts", "toolchain.mjs")], { cwd: root, stdio: "inherit" });
