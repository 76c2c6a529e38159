import { execFileSync } from "node:child_process";
import { readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { repoRoot } from "../../scripts/engine";

// The releases a stack may have been deployed by, and the steps each release
// lets the first preview after an upgrade show, read from CHANGELOG.md: the
// operator's document and the upgrade test cannot disagree.

/** A step other than "same" that the first preview after upgrading may show, and why. */
export interface UpgradeStep {
  op: string;
  /** The resource type as the preview prints it. */
  type: string;
  /** Words the preview itself prints to explain the step. */
  why: string;
}

export interface Release {
  version: string;
  /** Absent for the newest section: the current code. */
  commit?: string;
  /** What this release shows when it first runs on a stack of an earlier one. */
  upgradeSteps: UpgradeStep[];
}

export const changelogPath = join(repoRoot, "CHANGELOG.md");

const STEPS_HEADING = "### Shows in the first preview after upgrading";

/** Releases newest first, as the changelog lists them; throws on any section it cannot read. */
export function parseChangelog(text: string): Release[] {
  const sections = text.split(/^## /m).slice(1);
  if (sections.length === 0) throw new Error("CHANGELOG.md has no release section (## x.y.z ...)");
  return sections.map((section, i) => {
    const heading = section.split("\n")[0];
    const version = /^(\d+\.\d+\.\d+) /.exec(heading)?.[1];
    if (!version) throw new Error(`CHANGELOG.md: a release heading must start with its version: "## ${heading}"`);
    const commit = /\(commit ([0-9a-f]{40})\)/.exec(heading)?.[1];
    // The newest section is the code at hand; every earlier release is deployed by its commit.
    if (!commit && i > 0) throw new Error(`CHANGELOG.md ${version}: the heading of an earlier release names its full commit, "(commit <40 hex digits>)"`);
    const oldest = i === sections.length - 1;
    return { version, commit, upgradeSteps: oldest ? [] : stepsOf(version, section) };
  });
}

function stepsOf(version: string, section: string): UpgradeStep[] {
  const start = section.indexOf(`${STEPS_HEADING}\n`);
  if (start < 0) throw new Error(`CHANGELOG.md ${version}: no "${STEPS_HEADING}" section`);
  // Up to the next heading; comments are notes for maintainers, not part of the list.
  const body = section.slice(start + STEPS_HEADING.length).replace(/<!--[\s\S]*?-->/g, "").split(/^### /m)[0].trim();
  if (/^Nothing\b/.test(body)) return [];
  const rows = body.split("\n").filter((line) => line.startsWith("|")).slice(2);
  const steps = rows.map((row) => {
    const [op, type, why] = row.split("|").slice(1, -1).map((cell) => cell.trim());
    const typeName = /^`([^`]+)`/.exec(type ?? "")?.[1];
    // A replace or delete on upgrade would roll a live node back: never an allowed step.
    if (!["create", "update"].includes(op) || !typeName || !why) throw new Error(`CHANGELOG.md ${version}: cannot read the upgrade step "${row}" (| create or update | \`type\` | why |)`);
    return { op, type: typeName, why };
  });
  if (steps.length === 0) throw new Error(`CHANGELOG.md ${version}: "${STEPS_HEADING}" holds neither "Nothing" nor a table of steps`);
  return steps;
}

/** Every step a stack deployed by `release` may show on upgrading to the current code: those of each newer release. */
export function stepsSince(releases: Release[], release: Release): UpgradeStep[] {
  return releases.slice(0, releases.indexOf(release)).flatMap((newer) => newer.upgradeSteps);
}

export function changelogReleases(): Release[] {
  return parseChangelog(readFileSync(changelogPath, "utf8"));
}

function git(...args: string[]): string {
  return execFileSync("git", ["-C", repoRoot, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** What a lockfile pins, without the project's own version (every release changes it). */
function lockedTree(dir: string): unknown {
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
  delete lock.version;
  delete lock.packages[""].version;
  return lock;
}

/**
 * The release's own files in `dir` (git archive: the repository and its other
 * worktrees stay untouched), with the dependencies its lockfile pins: the
 * current node_modules when both lockfiles pin the same tree (no second
 * install's minutes and network for the same packages), else `npm ci`.
 */
export function checkOut(release: Release & { commit: string }, dir: string): "linked node_modules" | "npm ci" {
  try {
    git("cat-file", "-e", `${release.commit}^{commit}`);
  } catch {
    throw new Error(`release ${release.version}'s commit ${release.commit} is not in this clone: fetch the full history (git fetch --unshallow)`);
  }
  execFileSync("bash", ["-o", "pipefail", "-c", 'git -C "$1" archive "$2" | tar -x -C "$3"', "bash", repoRoot, release.commit, dir], { stdio: ["ignore", "ignore", "pipe"] });
  if (isDeepStrictEqual(lockedTree(dir), lockedTree(repoRoot))) {
    symlinkSync(realpathSync(join(repoRoot, "node_modules")), join(dir, "node_modules"));
    return "linked node_modules";
  }
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
  return "npm ci";
}
