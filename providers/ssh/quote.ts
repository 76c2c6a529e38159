// POSIX shell quoting. Every argument that reaches a remote shell goes through
// here: single quotes make everything literal except the quote itself, which
// is closed, escaped and reopened. No library of ours' dependency set does this.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv into one command line with every argument quoted. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
