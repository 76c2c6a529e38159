import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { pulumiCommand } from "./pulumi-cli";

/** Repository root. */
export const repoRoot = resolve(__dirname, "..");

/** The file state backend that tests and the demo use; git-ignored, nothing leaves the machine. */
export const stateDir = join(repoRoot, ".pulumi-state");

/** Only for tests and the demo: real stacks use a passphrase of the user's own or a cloud KMS. */
export const testPassphrase = "proxmox-hardening-test-only-passphrase";

export { pulumiCommand };

let engineTmp: string | undefined;

/**
 * TMPDIR for the engine's processes, removed when this process exits: the
 * toolchain's Node.js language host (v3.68) leaves a pulumi-node-pipes*
 * directory in the temp directory after every program run.
 */
function engineTmpDir(): string {
  if (engineTmp === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "phs-engine-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    engineTmp = dir;
  }
  return engineTmp;
}

export function engineEnv(): Record<string, string> {
  mkdirSync(stateDir, { recursive: true });
  return {
    TMPDIR: engineTmpDir(),
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: testPassphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
  };
}

/** A stack of a program on disk (with Pulumi.yaml), run by the real engine and language host. */
export async function localStack(workDir: string, stackName: string): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack(
    { workDir, stackName },
    { pulumiCommand: await pulumiCommand(), envVars: engineEnv() },
  );
}
