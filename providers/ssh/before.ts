import { createHash } from "node:crypto";
import { expectSuccess, HardeningError } from "../core/errors";
import { HostSession, RemoteResult } from "./transport";
import { fileDumpScript, parseFileDump, snapshotText, TEMP_FILE_PREFIX } from "./files";
import { underHostLock } from "./lock";
import { shellQuote } from "./quote";
import { ownerSchema } from "./schema";

// What a node had before a stack first changed it, recorded on the node.
//
// A create whose connection is cut after its change reached the node but
// before the engine saved the resource leaves the change without a resource:
// the next create would find it and take it for the node's own (a rule
// "adopted and kept", a file "restored" instead of removed). So before each
// change, under the host lock, the create writes what it saw to a record
// file, atomically, unless a record is there already: the first record
// wins, across any number of cut runs, and a later create uses it instead of
// what it finds. Records live per stack and per host entry, so two stacks
// (or one node listed twice) never read each other's; delete removes them.
// A thing another stack (or host entry) has a record of is managed there:
// the create is refused rather than have two stacks undo each other.

export const BEFORE_DIR = "/var/lib/proxmox-hardening/before";

/** One thing on the node and what it was before: `key` names its record (file-name safe), `what` is for people. */
export interface BeforeEntry<T> {
  key: string;
  what: string;
  before: T;
}

/** Where a resource's records go: owner is `project/stack` (undefined in state written before records existed). */
export interface RecordOwner {
  owner?: string;
  connection: { name: string };
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9+._-]{0,120}$/;

/** A record key from a readable kind and the thing's identity (hashed: identities hold any character). */
export function beforeKey(kind: string, identity: string): string {
  return `${kind}-${createHash("sha256").update(identity).digest("hex").slice(0, 16)}`;
}

export function recordDir(owner: string, host: string, root = BEFORE_DIR): string {
  if (!ownerSchema.safeParse(owner).success || !KEY.test(host)) throw new Error(`not a record owner: ${owner} on ${host}`);
  return `${root}/${owner}/${host}`;
}

export function recordPath(owner: string, host: string, key: string, root = BEFORE_DIR): string {
  if (!KEY.test(key)) throw new Error(`not a record key: ${key}`);
  return `${recordDir(owner, host, root)}/${key}.json`;
}

export function recordContent(owner: string, host: string, entry: BeforeEntry<unknown>): string {
  return `${JSON.stringify({ owner, host, what: entry.what, before: entry.before })}\n`;
}

/** rememberScript's exit code when another stack or host entry has a record of an entry. */
export const MANAGED_ELSEWHERE_EXIT = 76;
const ELSEWHERE = "=== proxmox-hardening record elsewhere";

/**
 * Writes each entry's record unless it exists, then prints every record
 * (fileDumpScript's format, without mode and owner). Run it under the host
 * lock, before the change. When any entry has a record of another owner or
 * host entry, prints those records' paths, writes nothing and exits
 * MANAGED_ELSEWHERE_EXIT.
 */
export function rememberScript(owner: string, host: string, entries: readonly BeforeEntry<unknown>[], root = BEFORE_DIR): string {
  const paths = entries.map((entry) => recordPath(owner, host, entry.key, root));
  const elsewhere = entries.map(
    (entry, i) => `for f in ${shellQuote(root)}/*/*/*/${shellQuote(`${entry.key}.json`)}; do if [ -f "$f" ] && [ "$f" != ${shellQuote(paths[i])} ]; then printf '%s %s\n' '${ELSEWHERE}' "$f"; found=1; fi; done`,
  );
  const writes = entries.map((entry, i) => recordWriteScript(paths[i], recordContent(owner, host, entry)));
  return ["found=", ...elsewhere, `[ -z "$found" ] || exit ${MANAGED_ELSEWHERE_EXIT}`, RECORD_UMASK, ...writes, fileDumpScript(paths, { attributes: false })].join("\n");
}

/**
 * Writes one record unless it exists, atomically (a temp file, then rename). Not atomicWriteScript:
 * a record script runs before every change (a dozen on a host's first apply), and each process a
 * script starts costs the host a few ms of CPU, so this one uses shell builtins and one `mv`. The
 * content travels inside the script (a line of JSON, never secret), so no input can arrive cut
 * short, and `printf` fails the script on a full disk. Under the host lock there is one writer at
 * a time, so one temp name will do: one left by a killed writer is overwritten by the next.
 */
function recordWriteScript(path: string, content: string): string {
  const dir = path.slice(0, path.lastIndexOf("/"));
  return [
    `if [ ! -f ${shellQuote(path)} ]; then`,
    `  [ -d ${shellQuote(dir)} ] || mkdir -p ${shellQuote(dir)} || exit 1`,
    `  tmp=${shellQuote(`${dir}/${RECORD_TEMP}`)}`,
    `  trap 'rm -f "$tmp"' EXIT; trap 'exit 129' HUP INT TERM PIPE`,
    `  printf '%s' ${shellQuote(content)} > "$tmp" && mv -f "$tmp" ${shellQuote(path)} || exit 1`,
    "  trap - EXIT HUP INT TERM PIPE",
    "fi",
  ].join("\n");
}

/** The temp file a record is written to before its rename, in the record's directory. */
const RECORD_TEMP = `${TEMP_FILE_PREFIX}record`;

/**
 * Records are root's alone (files 0600, directories 0700): a record holds copies of what it
 * saves, e.g. ufw's user.rules, which Debian keeps 0640 root:root. In the record's subshell only,
 * so the change after it keeps the shell's own umask.
 */
const RECORD_UMASK = "umask 077";

/** Who else has a record of one of the entries, from rememberScript's output: owner, host entry and what. */
export function parseElsewhere(stdout: string, entries: readonly BeforeEntry<unknown>[], root = BEFORE_DIR): { owner: string; host: string; what: string }[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith(`${ELSEWHERE} ${root}/`))
    .map((line) => {
      const [project, stack, host, file] = line.slice(ELSEWHERE.length + root.length + 2).split("/");
      const what = entries.find((entry) => `${entry.key}.json` === file)?.what ?? file;
      return { owner: `${project}/${stack}`, host, what };
    });
}

/** The recorded `before` of each entry, in order, from rememberScript's output. */
export function parseRemembered<T>(stdout: string, owner: string, host: string, entries: readonly BeforeEntry<T>[], root = BEFORE_DIR): T[] {
  const records = new Map(parseFileDump(stdout).map((snapshot) => [snapshot.path, snapshot]));
  return entries.map((entry) => {
    const path = recordPath(owner, host, entry.key, root);
    const text = records.get(path)?.present ? snapshotText(records.get(path)!) : undefined;
    if (text === undefined) throw new Error(`the record ${path} was not written`);
    return (JSON.parse(text) as { before: T }).before;
  });
}

/** Removes records, then their directories up to the records' root while they are empty. */
export function forgetScript(owner: string, host: string, keys: readonly string[], root = BEFORE_DIR): string {
  const dir = recordDir(owner, host, root);
  const [project, stack] = owner.split("/");
  const dirs = [dir, `${root}/${project}/${stack}`, `${root}/${project}`, root, root.slice(0, root.lastIndexOf("/"))];
  return [
    // The glob also takes temp files of writers killed outright, this one's and atomicWriteScript's (older records).
    `rm -f ${keys.map((key) => shellQuote(recordPath(owner, host, key, root))).join(" ")} ${shellQuote(dir)}/${shellQuote(TEMP_FILE_PREFIX)}*`,
    `for d in ${dirs.map(shellQuote).join(" ")}; do rmdir "$d" 2>/dev/null || break; done`,
    "true",
  ].join("\n");
}

const context = (resource: string, owned: RecordOwner) => ({ host: owned.connection.name, resource });

/** A change that goes in its record's round trip: run right after the record, under the same hold of the host lock. */
export interface ChangeAfterRecord {
  /** The change's script as it would run on its own, without underHostLock. */
  script: string;
  stdin?: string;
  description: string;
}

const CHANGE_MARKER = "=== proxmox-hardening change";

/**
 * rememberScript, then the change in the same script: the record runs in a subshell (its umask
 * and exits stay there) and the change runs as the rest of the script, as it would on its own;
 * it starts only once every record is written, after a marker line that separates the outputs.
 */
export function rememberThenChangeScript(record: string, change: string): string {
  return [`(\n${record}\n) || exit $?`, `echo '${CHANGE_MARKER}'`, change].join("\n");
}

/** rememberThenChangeScript's output: the records' part, and the change's result (none if it never started). */
export function splitAtChange(result: RemoteResult): { records: string; change?: RemoteResult } {
  const at = result.stdout.indexOf(`${CHANGE_MARKER}\n`);
  if (at === -1 || (at > 0 && result.stdout[at - 1] !== "\n")) return { records: result.stdout };
  return { records: result.stdout.slice(0, at), change: { ...result, stdout: result.stdout.slice(at + CHANGE_MARKER.length + 1) } };
}

/**
 * Records `entries` on the node unless this stack recorded them before, and
 * returns what the records say: the node's state before this stack's first
 * change, which a create keeps in state for delete. One round trip, under the host lock.
 */
export async function rememberBefore<T>(session: HostSession, resource: string, owned: RecordOwner & { owner: string }, entries: readonly BeforeEntry<T>[]): Promise<T[]> {
  return entries.length === 0 ? [] : (await remember(session, resource, owned, entries)).previous;
}

/**
 * rememberBefore, then `change` in the same round trip (one round trip fewer per change: each
 * costs the host a shell and the run a wait). The change runs only once every record is written,
 * never when a record is refused; its result is the caller's to judge.
 */
export async function rememberBeforeThen<T>(
  session: HostSession,
  resource: string,
  owned: RecordOwner & { owner: string },
  entries: readonly BeforeEntry<T>[],
  change: ChangeAfterRecord,
): Promise<{ previous: T[]; change: RemoteResult }> {
  const { previous, change: result } = await remember(session, resource, owned, entries, change);
  // remember throws when a change it was given did not start.
  return { previous, change: result! };
}

async function remember<T>(session: HostSession, resource: string, owned: RecordOwner & { owner: string }, entries: readonly BeforeEntry<T>[], change?: ChangeAfterRecord) {
  const record = rememberScript(owned.owner, owned.connection.name, entries);
  const recordDescription = `record what ${entries.map((entry) => entry.what).join(", ")} was before`;
  const script = change ? rememberThenChangeScript(record, change.script) : record;
  const result = await session.run(underHostLock(script), { stdin: change?.stdin, description: change ? `${recordDescription}; ${change.description}` : recordDescription });
  const split = change ? splitAtChange(result) : { records: result.stdout };
  // With a change, its start says the records are written (the exit code is the change's).
  if (change ? !split.change : result.code !== 0) {
    if (result.code === MANAGED_ELSEWHERE_EXIT) {
      const others = parseElsewhere(split.records, entries);
      throw new HardeningError(
        context(resource, owned),
        `${others.map((other) => `${other.what} is managed by stack ${other.owner} (host entry ${other.host})`).join("; ")}: nothing was changed. Two stacks (or two host entries) managing one node undo each other's changes, and one's destroy removes what the other still needs`,
        `manage this node from one stack and one host entry only; if that stack no longer exists, remove its records under ${BEFORE_DIR}/ on the host`,
      );
    }
    throw new HardeningError(context(resource, owned), `${recordDescription} failed; nothing was changed`, `check the disk and permissions under ${BEFORE_DIR}`, {
      command: recordDescription,
      exitCode: result.code,
      stderr: result.stderr || result.stdout,
    });
  }
  return { previous: parseRemembered(split.records, owned.owner, owned.connection.name, entries), change: split.change };
}

/** Removes the records of `keys` once delete has put the node back; state from before records existed has none. */
export async function forgetBefore(session: HostSession, resource: string, owned: RecordOwner, keys: readonly string[]): Promise<void> {
  if (owned.owner === undefined || keys.length === 0) return;
  const script = forgetScript(owned.owner, owned.connection.name, keys);
  const result = await session.run(underHostLock(script), { description: `remove the records of ${keys.join(" ")}` });
  expectSuccess(result, context(resource, owned), `remove the records under ${recordDir(owned.owner, owned.connection.name)}`, `remove them by hand; they only describe what the node had before`);
}
