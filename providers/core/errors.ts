// One error type for everything a user can meet, so every message names the
// host, the resource and the field, says what was attempted and what to do.

export interface FailureContext {
  /** Host name as given in stack config (e.g. "pve1"). */
  host: string;
  /** Pulumi resource name or type (e.g. "ufw-rule allow-ssh"). */
  resource: string;
  /** Input field the failure is about, dotted path (e.g. "rules[2].port"). */
  field?: string;
}

/** The context of a failure in a resource: its host, its kind and name, and the input field concerned. */
export function failureContext(kind: string, inputs: { connection: { name: string }; label: string }, field?: string): FailureContext {
  return { host: inputs.connection.name, resource: `${kind} ${inputs.label}`, ...(field === undefined ? {} : { field }) };
}

export interface RemoteOutcome {
  /** The remote command, with secrets already redacted. */
  command: string;
  exitCode: number | null;
  stderr: string;
}

/** Last lines of a command's stderr: enough to act on, short enough to read. */
export function tailLines(text: string, count = 5): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-count).join("\n");
}

export class HardeningError extends Error {
  constructor(
    readonly context: FailureContext,
    readonly problem: string,
    readonly hint: string,
    readonly remote?: RemoteOutcome,
  ) {
    super(formatFailure(context, problem, hint, remote));
    this.name = "HardeningError";
  }
}

/**
 * Nothing ran because the node did not answer. A delete that meets it can never succeed on a
 * node gone for good: it adds the way out (goneForGoodHint).
 */
export class UnreachableNodeError extends HardeningError {}

/** The way out for a node that will never answer as itself again: scripts/retire.ts. */
export function goneForGoodHint(host: string): string {
  return `if ${host} is gone for good or was reinstalled: \`npm run retire -- ${host}\` (add \`-s <stack>\` as for pulumi) takes its resources out of the state without connecting to it; then remove ${host} from hosts, or pin its new hostKey, and run \`pulumi up\` (README: "Retiring or replacing a node")`;
}

export function formatFailure(context: FailureContext, problem: string, hint: string, remote?: RemoteOutcome): string {
  const where = [`host ${context.host}`, `resource ${context.resource}`];
  if (context.field) where.push(`field ${context.field}`);
  const parts = [`[${where.join(", ")}] ${problem}`];
  if (remote) {
    parts.push(`  ran: ${remote.command}`);
    parts.push(`  exit code: ${remote.exitCode ?? "none (connection lost or timed out)"}`);
    const stderr = tailLines(remote.stderr);
    if (stderr) parts.push(`  stderr:\n${stderr.replace(/^/gm, "    ")}`);
  }
  parts.push(`  next: ${hint}`);
  return parts.join("\n");
}

/** Replaces every occurrence of each secret with a marker. Empty secrets are ignored. */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[secret]");
  }
  return out;
}

/** What a remote command answered; the transport's RemoteResult has this shape. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Throws a HardeningError naming host, resource, command and answer unless the command succeeded. */
export function expectSuccess(result: CommandResult, context: FailureContext, attempted: string, hint: string): CommandResult {
  if (result.code === 0) return result;
  throw new HardeningError(context, `${attempted} failed`, hint, { command: attempted, exitCode: result.code, stderr: result.stderr || result.stdout });
}
