// `fail2ban-client status <jail>` as a user reads it (the product only needs the server's jail
// list): what a jail reads and whom it banned, parsed with the product's tree-output helpers.
import { Fail2banOutputError, treeCount, treeFields, words } from "../../providers/fail2ban/parse";

export interface JailStatus {
  jail: string;
  currentlyFailed: number;
  totalFailed: number;
  /** What the jail reads: its files (file backends) or its journal match (systemd backend). */
  source: { kind: "files"; files: string[] } | { kind: "journal"; matches: string };
  currentlyBanned: number;
  totalBanned: number;
  bannedIps: string[];
}

/** `fail2ban-client status <jail>`. */
export function parseJailStatus(stdout: string): JailStatus {
  const what = "fail2ban-client status <jail>";
  const header = /^Status for the jail: (\S+)\n/.exec(stdout);
  if (!header) throw new Fail2banOutputError(what, stdout);
  const fields = treeFields(stdout);
  const files = fields.get("File list");
  const journal = fields.get("Journal matches");
  const banned = fields.get("Banned IP list");
  if ((files === undefined) === (journal === undefined) || banned === undefined) throw new Fail2banOutputError(what, stdout);
  return {
    jail: header[1]!,
    currentlyFailed: treeCount(fields, "Currently failed", what, stdout),
    totalFailed: treeCount(fields, "Total failed", what, stdout),
    source: files !== undefined ? { kind: "files", files: words(files) } : { kind: "journal", matches: journal! },
    currentlyBanned: treeCount(fields, "Currently banned", what, stdout),
    totalBanned: treeCount(fields, "Total banned", what, stdout),
    bannedIps: words(banned),
  };
}
