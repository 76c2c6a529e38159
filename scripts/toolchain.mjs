#!/usr/bin/env node
// Makes the real Pulumi engine available offline. Pulumi's own installer
// downloads release binaries, which this kind of machine cannot reach; the Go
// module proxy can, so we build the CLI and the Node.js language host from the
// pinned modules in toolchain/ and install them where the `pulumi` npm package
// and the Automation API look: $PULUMI_HOME/versions/<V>/bin (default ~/.pulumi).
// A second run finds everything in place and returns in well under a second.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const version = pkg.devDependencies.pulumi; // the npm CLI wrapper's version is the pinned V
const home = process.env.PULUMI_HOME || join(homedir(), ".pulumi");
const bin = join(home, "versions", version, "bin");
const stampPath = join(bin, ".proxmox-hardening-toolchain");

const started = Date.now();
const log = (message) => process.stderr.write(`[toolchain ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);

/** Inputs of the build: if they change, the binaries are rebuilt. */
function buildStamp() {
  const hash = createHash("sha256").update(version);
  for (const file of ["cli/go.mod", "cli/go.sum", "nodejs-host/go.mod", "nodejs-host/go.sum"]) {
    hash.update(readFileSync(join(root, "toolchain", file)));
  }
  return hash.digest("hex");
}

function installedVersion(command) {
  const result = spawnSync(command, ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function ready() {
  const binaries = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];
  return (
    binaries.every((name) => existsSync(join(bin, name))) &&
    existsSync(stampPath) &&
    readFileSync(stampPath, "utf8") === buildStamp() &&
    installedVersion(join(bin, "pulumi")) === `v${version}`
  );
}

/** A pulumi that the user installed themselves (not the npm wrapper in node_modules/.bin). */
function ambientPulumi() {
  const path = (process.env.PATH || "").split(":").filter((dir) => dir && !dir.includes("node_modules"));
  for (const dir of path) {
    const candidate = join(dir, "pulumi");
    if (existsSync(candidate) && existsSync(join(dir, "pulumi-language-nodejs"))) return candidate;
  }
  return undefined;
}

/** go build, with a progress line every 30 s: a cold build runs for minutes without a word. */
function goBuild(moduleDir, pkgPath, output, ldflags) {
  const goEnv = { ...process.env, GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" };
  const args = ["build", "-trimpath", "-ldflags", ldflags, "-o", output, pkgPath];
  return new Promise((resolve, reject) => {
    const child = spawn("go", args, { cwd: join(root, "toolchain", moduleDir), env: goEnv, stdio: "inherit" });
    const heartbeat = setInterval(() => log(`still building ${pkgPath.split("/").pop()}...`), 30_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(heartbeat);
      code === 0 ? resolve() : reject(new Error(`go build ${pkgPath} exited ${code}`));
    });
  });
}

/** The dynamic-provider launcher ships in the pinned SDK module, next to its sources. */
function sdkLauncherDir() {
  const out = execFileSync("go", ["mod", "download", "-json", `github.com/pulumi/pulumi/sdk/v3@v${version}`], {
    cwd: join(root, "toolchain", "cli"),
    encoding: "utf8",
    env: { ...process.env, GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" },
  });
  return join(JSON.parse(out).Dir, "nodejs", "dist");
}

async function main() {
  if (ready()) {
    log(`Pulumi ${version} already built in ${bin}`);
    return;
  }
  const ambient = ambientPulumi();
  if (ambient && !process.env.PROXMOX_HARDENING_BUILD_PULUMI) {
    log(`using the Pulumi CLI on PATH (${ambient}, ${installedVersion(ambient)}); nothing to build`);
    return;
  }
  if (spawnSync("go", ["version"]).status !== 0) {
    throw new Error("no `pulumi` on PATH and no Go toolchain to build one: install Pulumi (https://www.pulumi.com/docs/install/) or Go 1.25+");
  }
  mkdirSync(bin, { recursive: true });
  const versionFlag = `-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${version}`;
  log(`building the Pulumi CLI v${version} from the Go module proxy (first run only; several minutes on 2 cores)`);
  await goBuild("cli", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", join(bin, "pulumi.tmp"), `-s -w ${versionFlag}`);
  renameSync(join(bin, "pulumi.tmp"), join(bin, "pulumi"));
  log("building the Node.js language host (pulumi-language-nodejs)");
  await goBuild("nodejs-host", "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs", join(bin, "pulumi-language-nodejs.tmp"), `-s -w`);
  renameSync(join(bin, "pulumi-language-nodejs.tmp"), join(bin, "pulumi-language-nodejs"));
  log("installing the dynamic-provider launcher from the pinned SDK module");
  const launchers = sdkLauncherDir();
  for (const name of ["pulumi-resource-pulumi-nodejs"]) {
    copyFileSync(join(launchers, name), join(bin, name));
    chmodSync(join(bin, name), 0o755);
  }
  writeFileSync(stampPath, buildStamp());
  log(`Pulumi ${installedVersion(join(bin, "pulumi"))} installed in ${bin}`);
}

main().catch((error) => {
  process.stderr.write(`toolchain: ${error.message}\n`);
  process.exit(1);
});
