import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { mustRun } from "./util";

// Which project tree the benchmark measures: this work tree as it is, or a
// snapshot of a commit (git archive into /tmp, node_modules linked), so that
// other engineers' half-made edits in the shared tree cannot fail a long run.
// The snapshot gets node_modules as hard links (instant, and immune to an
// `npm ci` that another engineer's `npm test` runs in the shared tree).

export const repoRoot = resolve(__dirname, "..");

export interface Tree {
  root: string;
  /** The commit measured, with "+ local changes" for the work tree. */
  description: string;
  dispose(): void;
}

export async function projectTree(ref: string | undefined, patches: readonly string[] = []): Promise<Tree> {
  if (patches.length > 0 && !ref) throw new Error("--patch needs --ref: the benchmark never changes the shared work tree");
  const head = (await mustRun("git", ["rev-parse", "--short=12", "HEAD"], { cwd: repoRoot })).stdout.trim();
  if (!ref) {
    const dirty = (await mustRun("git", ["status", "--porcelain", "--", "index.ts", "providers", "Pulumi.yaml"], { cwd: repoRoot })).stdout.trim() !== "";
    return { root: repoRoot, description: `work tree at ${head}${dirty ? " with uncommitted changes in providers/" : ""}`, dispose: () => undefined };
  }
  const commit = (await mustRun("git", ["rev-parse", "--short=12", `${ref}^{commit}`], { cwd: repoRoot })).stdout.trim();
  const label = patches.map((p) => p.split("/").pop()!.replace(/\.diff$/, "")).join("+");
  const root = `/tmp/pbn-tree-${commit}-${process.pid}${label ? `-${label}` : ""}`;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  await mustRun("sh", ["-c", `git archive ${commit} | tar -x -C '${root}'`], { cwd: repoRoot });
  await mustRun("cp", ["-al", join(repoRoot, "node_modules"), join(root, "node_modules")], { timeoutMs: 300_000 });
  // Proposed changes, measured before anyone applies them to the project.
  for (const patch of patches) await mustRun("patch", ["-p1", "--forward", "-i", resolve(patch)], { cwd: root });
  const patched = patches.length ? ` + ${patches.map((p) => p.split("/").pop()).join(" + ")}` : "";
  return { root, description: `commit ${commit} (snapshot of ${ref})${patched}`, dispose: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Makes a tree's bundles (providers/core/bundle.ts) before the timed runs, as every run after the
 * first finds them; otherwise the first operation measured also pays for esbuild (0.2-0.4 s here). Returns
 * how long that took, or undefined for a tree from before the bundles.
 */
export async function warmBundles(root: string): Promise<number | undefined> {
  const bundle = join(root, "providers", "core", "bundle.ts");
  if (!existsSync(bundle)) return undefined;
  const entries = ["program.ts", "registry.ts"].map((entry) => join(root, "providers", entry));
  const script = `const { bundleOf } = require(${JSON.stringify(bundle)}); for (const entry of ${JSON.stringify(entries)}) bundleOf(${JSON.stringify(root)}, entry);`;
  const t0 = performance.now();
  await mustRun(process.execPath, ["--import", "tsx", "-e", script], { cwd: repoRoot, timeoutMs: 120_000 });
  return performance.now() - t0;
}
