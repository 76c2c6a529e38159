import { createHash } from "node:crypto";
import { atomicWriteScript, FileSnapshot } from "../ssh/files";
import { commandLine, shellQuote } from "../ssh/quote";

// The pure half of a config-file resource (ssh/files.ts holds files in
// general): the script that writes a file and tests the configuration it is
// part of, taking the file back when the test fails.

/** testedWriteScript's exit code when the test rejected the new file (the previous one is back). */
export const TEST_FAILED_EXIT = 3;

/** What testedWriteScript says on stderr when the configuration failed its test before the change too. */
export const ALREADY_FAILING_NOTE = "note: the configuration already failed its test before this change";

/** How a resource's configuration is tested on the host. */
export interface ConfigTest {
  /** The test's argv, e.g. ["fail2ban-client", "-t"] or ["sshd", "-t"]; exit 0 means the configuration is good. */
  argv: readonly string[];
  /** What a rejected change leaves running, for the message (e.g. "fail2ban was not reloaded and keeps running on its previous configuration"). */
  keeps: string;
  /**
   * Set where the configuration may fail its test before any change (fail2ban on a default
   * Proxmox VE 8 host: the stock sshd jail wants a missing /var/log/auth.log): a failing test is
   * run again on the previous content, to tell "this change broke it" from "it failed before".
   * When the previous content fails too, a valid file does not make that worse, so the new file
   * is written again, with ALREADY_FAILING_NOTE; `lastWord` names the later test that decides
   * (for the log). Without it, a failing test always takes the file back.
   */
  retestPrevious?: { lastWord: string };
}

/** The test as it runs on the host and as messages name it. */
export const testCommand = (test: ConfigTest) => commandLine(test.argv);

/** A short digest of a file's content: what state keeps to show a file edited on the host. */
export const digestOf = (content: string) => createHash("sha256").update(content).digest("hex").slice(0, 16);

/**
 * Writes `path` atomically from stdin (0644, root) and runs the test, once in
 * the usual case. Only when the test fails is the previous file (`before`:
 * mode and owner; its bytes are copied aside on the host first) put back:
 * exit TEST_FAILED_EXIT, previous file in place, the test's answer on stderr
 * (with `retestPrevious`: unless the previous file fails too, see ConfigTest). One script, for the host lock: a parallel write in between would
 * change the answer.
 */
export function testedWriteScript(path: string, content: string, before: FileSnapshot, test: ConfigTest): string {
  const target = shellQuote(path);
  const run = `${testCommand(test)} </dev/null`;
  const writeNew = `( ${atomicWriteScript(path, "0644", "root:root", content)} ) < "$work/new"`;
  const rejected = `printf '%s\\n' "$out" >&2; exit ${TEST_FAILED_EXIT}`;
  return [
    "set -e",
    "work=$(mktemp -d)",
    `trap 'rm -rf "$work"' EXIT`,
    `trap 'exit 129' HUP INT TERM PIPE`,
    `cat > "$work/new"`,
    `if [ -f ${target} ]; then cp ${target} "$work/old"; fi`,
    writeNew,
    `if ! out=$(${run} 2>&1); then`,
    before.present ? `  ( ${atomicWriteScript(path, before.mode, before.owner)} ) < "$work/old"` : `  rm -f ${target}`,
    ...(test.retestPrevious ? [`  if ${run} >/dev/null 2>&1; then ${rejected}; fi`, `  ${writeNew}`, `  echo ${shellQuote(ALREADY_FAILING_NOTE)} >&2`] : [`  ${rejected}`]),
    "fi",
  ].join("\n");
}
