// npm run retire -- <host> [-s <stack>]
//
// Takes a node that is gone for good (or was reinstalled) out of a stack's state without any
// connection to it, so that the next `pulumi up` no longer waits for it and fails. It first
// probes the node once (the SSH key exchange only, bounded by its connectTimeoutSeconds): a node
// that answers with its pinned key is refused, since it can be rolled back normally by removing
// it from `hosts`. Then one `pulumi state delete` removes the node's resources, dependents
// first, and it prints the config change to make and the `pulumi up` to run.
// README: "Retiring or replacing a node".
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs, promisify } from "node:util";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { ConfiguredHost, configuredHostsSchema, judgeProbe, nextSteps, planRetirement, StateResource } from "../providers/host/retire";
import { probeHostKey } from "../providers/ssh/probe";
import { pulumiCommand } from "./pulumi-cli";

const execFileAsync = promisify(execFile);
const repoRoot = resolve(__dirname, "..");
const USAGE = "usage: npm run retire -- <host> [-s <stack>]   (the host's name as in `hosts`; default: the selected stack)";

function parseCommandLine(argv: string[]): { host: string; stack?: string } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { stack: { type: "string", short: "s" }, help: { type: "boolean", short: "h" } } });
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`, 2);
  }
  if (parsed.values.help) fail(USAGE, 0);
  if (parsed.positionals.length !== 1) fail(USAGE, 2);
  return { host: parsed.positionals[0], stack: parsed.values.stack };
}

function fail(message: string, code = 1): never {
  (code === 0 ? console.log : console.error)(message);
  process.exit(code);
}

/** The `hosts` entries of the stack's config, as far as the plan needs them (none when unset). */
async function configuredHosts(stack: Stack): Promise<ConfiguredHost[]> {
  const project = (await stack.workspace.projectSettings()).name;
  const raw = (await stack.getAllConfig())[`${project}:hosts`]?.value;
  if (raw === undefined) return [];
  const parsed = configuredHostsSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) fail(`the stack's hosts config does not parse (${parsed.error.issues[0]?.message}); fix it with \`pulumi preview\` first`);
  return parsed.data;
}

async function main(): Promise<void> {
  const args = parseCommandLine(process.argv.slice(2));
  const cli = await pulumiCommand();
  const workspace = await LocalWorkspace.create({ workDir: repoRoot, pulumiCommand: cli });
  const stackName = args.stack ?? (await workspace.stack())?.name;
  if (!stackName) fail(`no stack selected: pass -s <stack>\n${USAGE}`);
  const stack = await Stack.select(stackName, workspace);

  const exported = await stack.exportStack();
  const resources = (exported.deployment?.resources ?? []) as StateResource[];
  const configured = await configuredHosts(stack);
  let plan;
  try {
    plan = planRetirement(resources, args.host, configured);
  } catch (error) {
    fail((error as Error).message);
  }

  const { connection } = plan;
  console.log(`probing ${plan.host} at ${connection.address}:${connection.port} once (SSH key exchange only, at most ${connection.connectTimeoutSeconds} s)...`);
  const outcome = await probeHostKey(connection, connection.connectTimeoutSeconds * 1000);
  const verdict = judgeProbe(plan, outcome);
  if (!verdict.proceed) fail(verdict.message);
  console.log(`${verdict.finding}: retiring ${plan.host} from stack ${stackName}`);

  // One `pulumi state delete` of every URN, dependents first: one edit of the state, which the
  // CLI checks (no resource left may refer to a deleted one) before it writes anything.
  await execFileAsync(cli.command, ["state", "delete", ...plan.remove, "--yes", "--stack", stackName], { cwd: repoRoot, env: process.env, maxBuffer: 16 << 20 });
  for (const urn of plan.remove) console.log(`  removed from state: ${urn}`);
  if (plan.handOver) console.log(`  kept in state for cluster ${plan.handOver.cluster}: ${plan.handOver.urn}`);
  console.log(`${plan.remove.length} resources of ${plan.host} left the state; no command ran on the node and no credential was offered to it. Next:`);
  for (const [i, step] of nextSteps(plan, outcome, configured, stackName).entries()) console.log(`  ${i + 1}. ${step}`);
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
