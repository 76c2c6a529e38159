import { createHash } from "node:crypto";
import { z } from "zod";
import { HostSession } from "./transport";
import { shellQuote } from "./quote";

// Files on a host, read in one round trip and written atomically, with the
// snapshot a resource keeps in state so that delete can put back exactly what
// was there before (content, mode and owner, or absence).

export const fileSnapshotSchema = z.object({
  path: z.string(),
  present: z.boolean(),
  /** base64 of the content, so binary and trailing newlines survive state. */
  contentBase64: z.string().optional(),
  /** As `stat -c %a` prints it, e.g. 644. */
  mode: z.string().optional(),
  /** As `stat -c %U:%G` prints it. */
  owner: z.string().optional(),
});
export type FileSnapshot = z.infer<typeof fileSnapshotSchema>;

const MARKER = "=== proxmox-hardening file";

/** Name prefix of every temp file a write leaves beside its target until the rename. */
export const TEMP_FILE_PREFIX = ".proxmox-hardening.";

/**
 * Shell script that prints every file with a header line, content as base64. Without
 * `attributes`, mode and owner print as "-" (a `stat` process fewer per file, for callers
 * that only want the content).
 */
export function fileDumpScript(paths: readonly string[], { attributes = true } = {}): string {
  const modeOwner = attributes ? `"$(stat -c '%a %U:%G' "$f")"` : "'- -'";
  return [
    `set -- ${paths.map(shellQuote).join(" ")}`,
    `for f in "$@"; do`,
    `  if [ -f "$f" ]; then printf '%s present %s %s\\n' '${MARKER}' ${modeOwner} "$f"; base64 -w0 "$f"; printf '\\n';`,
    `  else printf '%s absent - - %s\\n' '${MARKER}' "$f"; fi`,
    `done`,
  ].join("\n");
}

/** Parses the output of fileDumpScript. */
export function parseFileDump(output: string): FileSnapshot[] {
  const lines = output.split("\n");
  const snapshots: FileSnapshot[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith(MARKER)) continue;
    const [state, mode, owner, ...pathParts] = lines[i].slice(MARKER.length + 1).split(" ");
    const path = pathParts.join(" ");
    if (state === "present") {
      snapshots.push({ path, present: true, contentBase64: lines[i + 1] ?? "", mode, owner });
      i++;
    } else {
      snapshots.push({ path, present: false });
    }
  }
  return snapshots;
}

export function snapshotText(snapshot: FileSnapshot): string | undefined {
  return snapshot.present ? Buffer.from(snapshot.contentBase64 ?? "", "base64").toString("utf8") : undefined;
}

export async function readFiles(session: HostSession, paths: readonly string[]): Promise<FileSnapshot[]> {
  const result = await session.run(fileDumpScript(paths), { description: `read ${paths.join(" ")}` });
  return parseFileDump(result.stdout);
}

const FACTS_END = "=== proxmox-hardening facts end";

/** A script that prints facts without changing anything, then fileDumpScript: one round trip where a create would take two. */
export function factsThenFilesScript(facts: string, paths: readonly string[]): string {
  return [facts, `echo '${FACTS_END}'`, fileDumpScript(paths)].join("\n");
}

/** factsThenFilesScript's output: the facts' part, and the files. */
export function splitFactsAndFiles(stdout: string): { facts: string; files: FileSnapshot[] } {
  const at = stdout.lastIndexOf(`${FACTS_END}\n`);
  return at === -1 ? { facts: stdout, files: [] } : { facts: stdout.slice(0, at), files: parseFileDump(stdout.slice(at)) };
}

/** Runs `facts` and reads `paths` in one round trip (factsThenFilesScript). */
export async function readFactsAndFiles(session: HostSession, facts: string, paths: readonly string[], description: string): Promise<{ facts: string; files: FileSnapshot[] }> {
  const result = await session.run(factsThenFilesScript(facts, paths), { description: `${description}; read ${paths.join(" ")}` });
  return splitFactsAndFiles(result.stdout);
}

/**
 * Script that writes stdin to `path` atomically: a temp file in the same
 * directory, owner and mode set, then rename, so a cut connection never
 * leaves a half-written config behind. With `expected` (the content sent on
 * stdin), the temp file is checked against its sha256 before the rename: a
 * connection cut while the content was on its way leaves stdin short, and
 * `cat` would otherwise end normally on the truncated input. A hang-up, a
 * broken pipe or a kill signal removes the temp file too. Runs under the host
 * lock, so a temp file found in the directory was left by a writer that was
 * killed outright (SIGKILL) and is removed.
 */
export function atomicWriteScript(path: string, mode = "0644", owner = "root:root", expected?: string): string {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const check =
    expected === undefined
      ? []
      : [`[ "$(sha256sum < "$tmp" | cut -d' ' -f1)" = ${createHash("sha256").update(expected).digest("hex")} ] || { echo ${shellQuote(`incomplete input for ${path}: not written`)} >&2; exit 1; }`];
  return [
    "set -e",
    `mkdir -p ${shellQuote(dir)}`,
    `find ${shellQuote(dir)} -maxdepth 1 -type f -name ${shellQuote(`${TEMP_FILE_PREFIX}*`)} -delete`,
    // The traps first: a signal right after mktemp must not leave the temp file.
    "tmp=",
    `trap 'rm -f "$tmp"' EXIT`,
    `trap 'exit 129' HUP INT TERM PIPE`,
    `tmp=$(mktemp ${shellQuote(`${dir}/${TEMP_FILE_PREFIX}XXXXXX`)})`,
    `cat > "$tmp"`,
    ...check,
    `chown ${shellQuote(owner)} "$tmp"`,
    `chmod ${shellQuote(mode)} "$tmp"`,
    `mv -f "$tmp" ${shellQuote(path)}`,
    `trap - EXIT HUP INT TERM PIPE`,
  ].join("\n");
}

/** Script that puts a snapshot back: the old content with its mode and owner, or no file. */
export function restoreScript(snapshot: FileSnapshot): string {
  if (!snapshot.present) return `rm -f ${shellQuote(snapshot.path)}`;
  return atomicWriteScript(snapshot.path, snapshot.mode ?? "0644", snapshot.owner ?? "root:root", restoreInput(snapshot));
}

/** Shell condition: the file is exactly the snapshot (content, mode and owner), or absent like it. */
export function matchesSnapshotCondition(snapshot: FileSnapshot): string {
  const path = shellQuote(snapshot.path);
  if (!snapshot.present) return `[ ! -e ${path} ]`;
  const digest = createHash("sha256").update(Buffer.from(snapshot.contentBase64 ?? "", "base64")).digest("hex");
  return `{ [ -f ${path} ] && [ "$(stat -c '%a %U:%G' ${path})" = ${shellQuote(`${snapshot.mode} ${snapshot.owner}`)} ] && [ "$(sha256sum < ${path} | cut -d' ' -f1)" = ${digest} ]; }`;
}

/**
 * Script that puts a snapshot back unless the file is already exactly so, and
 * then runs `afterRestore`; prints "restored" or "unchanged". Feed it restoreInput.
 */
export function restoreIfChangedScript(snapshot: FileSnapshot, afterRestore = ""): string {
  return [`if ${matchesSnapshotCondition(snapshot)}; then echo unchanged; else`, restoreScript(snapshot), "echo restored", afterRestore, "fi"].filter(Boolean).join("\n");
}

/** Content to feed restoreScript on stdin. */
export function restoreInput(snapshot: FileSnapshot): string {
  return snapshot.present ? Buffer.from(snapshot.contentBase64 ?? "", "base64").toString("utf8") : "";
}
