#!/usr/bin/env node
// Everything a fresh machine needs before the tests or the demo run, in one
// idempotent step: npm packages, the sandbox's Debian packages, and the Pulumi
// toolchain. Each part checks first and returns in a moment when done.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runStep } from "./steps.mjs";

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
  await runStep({
    step: "npm packages",
    command: ["npm", "ci", "--no-audit", "--no-fund"],
    cwd: root,
    fix: "check that the npm registry is reachable (npm config get registry) and that package-lock.json is intact, then run `npm run setup` again",
  });
}

const sandboxDeps = join(root, "sandbox", "install-deps.sh");
if (existsSync(sandboxDeps) && process.platform === "linux" && process.getuid?.() === 0) {
  await runStep({
    step: "the sandbox's Debian packages",
    command: ["bash", sandboxDeps],
    cwd: root,
    fix: "check that apt works here (apt-get update, a reachable Debian mirror, no other apt holding the lock); `bash sandbox/install-deps.sh --dry-run` lists what is missing; then run `npm run setup` again",
  });
}

await runStep({
  step: "the Pulumi toolchain",
  command: [process.execPath, join(root, "scripts", "toolchain.mjs")],
  cwd: root,
  fix: "put a Pulumi CLI 3.259+ with pulumi-language-nodejs on PATH, or install Go 1.25+ and make the Go module proxy reachable, then run `npm run toolchain` (README: \"The Pulumi toolchain\")",
});
