import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import pkg from "../../package.json";

/** Repository root. */
export const repoRoot = resolve(__dirname, "..", "..");

/** The file state backend that tests and the demo use; git-ignored, nothing leaves the machine. */
export const stateDir = join(repoRoot, ".pulumi-state");

/** Only for tests and the demo: real stacks use a passphrase of the user's own or a cloud KMS. */
export const testPassphrase = "proxmox-hardening-test-only-passphrase";

/** The CLI the toolchain step built (or the user's own, when that is what it found). */
export async function pulumiCommand(): Promise<PulumiCommand> {
  const root = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "versions", pkg.devDependencies.pulumi);
  return existsSync(join(root, "bin", "pulumi")) ? PulumiCommand.get({ root }) : PulumiCommand.get();
}

export function engineEnv(): Record<string, string> {
  mkdirSync(stateDir, { recursive: true });
  return {
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
