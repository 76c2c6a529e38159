import { isDeepStrictEqual } from "node:util";
import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { hostLog } from "../core/log";
import { beforeKey, forgetBefore, RecordOwner, rememberBeforeThen } from "../ssh/before";
import { FileSnapshot, readFiles, restoreIfChangedScript, restoreInput, snapshotText } from "../ssh/files";
import { underHostLock } from "../ssh/lock";
import { HostSession, RemoteResult } from "../ssh/transport";
import { ALREADY_FAILING_NOTE, ConfigTest, digestOf, TEST_FAILED_EXIT, testCommand, testedWriteScript } from "./logic";

// A config-file resource's lifecycle on a host: write a file atomically after
// recording what the host had (for an exact undo), test the configuration it
// belongs to and take the file back when the test fails, put the file back on
// delete (then reload, optionally), and read the live file's digest for drift.
// Every step runs under the host lock.

/** A resource as messages and records name it. */
export type Labelled = RecordOwner & { label: string };

/** One change on a host: which resource and which of its input fields the file comes from. */
export interface FileChange {
  kind: string;
  inputs: Labelled & { owner: string };
  field: string;
  path: string;
  content: string;
  /** A create: a file that fails the test leaves no record of the host's file behind. */
  creating: boolean;
  /** The file as this step already read it (readFactsAndFiles), to spare a round trip; read here when absent. */
  before?: FileSnapshot;
}

/** What follows a restore, when the file was not as before already: e.g. reloading the service if it runs. */
export interface AfterRestore {
  script: string;
  /** For the progress line, e.g. "reload fail2ban". */
  what: string;
  /** The command for messages, e.g. "fail2ban-client reload". */
  command: string;
  /** The error when restoring or what follows fails. */
  failure: (kind: string, inputs: Labelled, attempted: string, result: RemoteResult) => HardeningError;
}

/** What a family of config files shares (e.g. fail2ban's filter, jail and [DEFAULT] files). */
export interface ConfigFiles {
  /** Names the records on the host (ssh/before.ts), e.g. "fail2ban-file"; never renamed, hosts keep them. */
  recordKind: string;
  test: ConfigTest;
  /** True for content this program wrote (e.g. it carries the program's header). */
  ours: (text: string) => boolean;
  afterRestore?: AfterRestore;
}

/**
 * The operations of config-file resources of one family. `write` returns the file as it was
 * before this stack first wrote it, for `restore` (keep it in state as the resource's
 * `previous`).
 */
export function configFiles(family: ConfigFiles) {
  const recordKey = (path: string) => beforeKey(family.recordKind, path);
  const test = testCommand(family.test);

  /**
   * Writes the file and runs the test (testedWriteScript), in the record's round trip: a file that breaks
   * the test is taken back, so the service never loads a broken
   * configuration. What the host had before is recorded on it before the
   * first write (a create whose answer a cut connection lost leaves the
   * record with its file). Without a record, a file that is `ours` was
   * written by this program (a cut create of a version without records, or
   * another stack): what the host had before it is "no file", so that
   * destroy removes it instead of putting our own content back. A create
   * whose file fails the test leaves no record either.
   */
  async function write(session: HostSession, change: FileChange): Promise<FileSnapshot> {
    const { kind, inputs, field, path, content } = change;
    const before = change.before ?? (await readFiles(session, [path]))[0];
    const seen = before.present && family.ours(snapshotText(before) ?? "") ? { path, present: false } : before;
    const {
      previous: [previous],
      change: result,
    } = await rememberBeforeThen(session, `${kind} ${inputs.label}`, inputs, [{ key: recordKey(path), what: path, before: seen }], {
      script: testedWriteScript(path, content, before, family.test),
      stdin: content,
      description: `write ${path} and run ${test}`,
    });
    if (result.code === TEST_FAILED_EXIT) {
      // The file is back as this create found it, and no resource is saved: a record saying just
      // that goes too. Left, it would outlive destroy and mark the file as this stack's to others.
      if (change.creating && isDeepStrictEqual(previous, seen)) await forgetBefore(session, `${kind} ${inputs.label}`, inputs, [recordKey(path)]);
      throw new HardeningError(
        failureContext(kind, inputs, field),
        `${test} rejected the new ${path}; the previous ${path} was put back, ${family.test.keeps}`,
        `fix the value; \`${test}\` on the host shows the same error`,
        { command: `${test} (after writing ${path})`, exitCode: result.code, stderr: result.stderr },
      );
    }
    expectSuccess(result, failureContext(kind, inputs, field), `write ${path}`, `check the disk and permissions under ${path.slice(0, path.lastIndexOf("/")) || "/"}`);
    if (family.test.retestPrevious && result.stderr.includes(ALREADY_FAILING_NOTE)) {
      // Not a new problem: the preflight reported the configuration as found.
      hostLog.debug(inputs.connection.name, `${path} written; the configuration still fails ${test}, as it did before this run; ${family.test.retestPrevious.lastWord}`);
    }
    return previous;
  }

  /**
   * A file resource's delete: puts the file back as it was before (content,
   * mode and owner, or no file), then runs afterRestore; a file found exactly
   * as before is left alone and nothing follows. Then the record goes.
   */
  async function restore(session: HostSession, kind: string, inputs: Labelled, snapshot: FileSnapshot): Promise<void> {
    const after = family.afterRestore;
    const script = underHostLock(restoreIfChangedScript(snapshot, after?.script));
    const result = await session.run(script, { stdin: restoreInput(snapshot), description: `restore ${snapshot.path}${after ? ` and ${after.what}` : ""} (unless it is as before)` });
    if (after) {
      if (result.code !== 0) throw after.failure(kind, inputs, `restore ${snapshot.path}; ${after.command}`, result);
    } else expectSuccess(result, failureContext(kind, inputs), `restore ${snapshot.path}`, "put the file back by hand from `pulumi stack export` (the resource's previous), then run destroy again");
    await forgetBefore(session, `${kind} ${inputs.label}`, inputs, [recordKey(snapshot.path)]);
  }

  /** read for a file resource: the live content's digest shows drift; a missing file is reported as gone. */
  async function read<P extends object>(session: HostSession, id: string, props: P, path: string): Promise<{ id?: string; props?: P & { digest: string } }> {
    const [live] = await readFiles(session, [path]);
    if (!live.present) return {};
    return { id, props: { ...props, digest: digestOf(snapshotText(live) ?? "") } };
  }

  return { write, restore, read };
}
