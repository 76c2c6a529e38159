import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import pkg from "../package.json";

/** The CLI the toolchain step built (or the user's own, when that is what it found). */
export async function pulumiCommand(): Promise<PulumiCommand> {
  const root = join(process.env.PULUMI_HOME ?? join(homedir(), ".pulumi"), "versions", pkg.devDependencies.pulumi);
  return existsSync(join(root, "bin", "pulumi")) ? PulumiCommand.get({ root }) : PulumiCommand.get();
}
