import { z } from "zod";
import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { hostLog } from "../core/log";
import { observedOnHost } from "../core/implementation";
import { hostImplementation } from "../ssh/implementation";
import { isDeepStrictEqual } from "node:util";
import { BeforeEntry, beforeKey, forgetBefore, rememberBefore, rememberBeforeThen } from "../ssh/before";
import { FileSnapshot, readFiles, restoreInput, restoreScript, snapshotText } from "../ssh/files";
import { underHostLock } from "../ssh/lock";
import { commandLine } from "../ssh/quote";
import { HostSession, RemoteResult } from "../ssh/transport";
import {
  activationArgs,
  defaultsArgs,
  exactlyStored,
  filtersIncoming,
  findRuleTuples,
  forwardPolicyProblem,
  predictAfterDelete,
  predictUserRules,
  routedPolicyFor,
  parseUfwFiles,
  ruleToArgs,
  ruleToDeleteArgs,
  splitFileBundle,
  STATE_READ_COMMAND,
  storedTuples,
  UFW_RULE_REPLACE_KEYS,
  UfwFileState,
  UfwTuple,
  UFW_FILES,
} from "./logic";
import { UfwRule } from "./schema";
import { ufwActivationKind, ufwBaselineKind, ufwDefaultsKind, ufwRuleKind } from "./kinds";
import { BRIDGE_NETFILTER_FACT, parseSwitchOnFacts, ruleChangeProblems, SWITCH_ON_FACTS_SCRIPT, SwitchOnFacts, switchOnProblems } from "./switch-on";

// UFW as four resource kinds: each rule, the default policies with logging, activation, and
// the baseline that gives ufw's files back byte for byte on destroy. All read ufw's state files
// in one command (ufw itself is slow to start) and change the host only through ufw, under the
// host lock.

type RuleInputs = z.output<typeof ufwRuleKind.inputs>;
type DefaultsInputs = z.output<typeof ufwDefaultsKind.inputs>;
type ActivationInputs = z.output<typeof ufwActivationKind.inputs>;

async function readState(session: HostSession, kind: string, inputs: RuleInputs | DefaultsInputs | ActivationInputs): Promise<UfwFileState> {
  const result = await session.run(commandLine(STATE_READ_COMMAND), { description: commandLine(STATE_READ_COMMAND) });
  try {
    return parseUfwFiles(splitFileBundle(result.stdout));
  } catch (error) {
    throw new HardeningError(failureContext(kind, inputs), `could not read ufw's state: ${(error as Error).message}`, "install ufw on the host (the Packages resource does) and check /etc/ufw", {
      command: commandLine(STATE_READ_COMMAND),
      exitCode: result.code,
      stderr: result.stderr,
    });
  }
}

type Labelled = { connection: { name: string }; label: string };

const ufwScript = (commands: string[][]) => commands.map((argv) => commandLine(["ufw", ...argv])).join(" && ");

function expectUfwSuccess(result: RemoteResult, kind: string, inputs: Labelled, script: string, field?: string) {
  expectSuccess(result, failureContext(kind, inputs, field), script, "run the command on the host to see ufw's complaint; `ufw status verbose` shows the current state");
}

/** Runs ufw commands in one round trip, under the host lock. */
async function runUfw(session: HostSession, kind: string, inputs: Labelled, commands: string[][], field?: string) {
  if (commands.length === 0) return;
  const script = ufwScript(commands);
  expectUfwSuccess(await session.run(underHostLock(script), { description: script }), kind, inputs, script, field);
}

/** Records what the host had (ssh/before.ts), then runs the ufw commands in the same round trip; returns the record. */
async function rememberThenUfw<T>(session: HostSession, kind: string, inputs: Labelled & { owner: string }, entry: BeforeEntry<T>, commands: string[][], field?: string): Promise<T> {
  if (commands.length === 0) return (await rememberBefore(session, `${kind} ${inputs.label}`, inputs, [entry]))[0];
  const script = ufwScript(commands);
  const { previous, change } = await rememberBeforeThen(session, `${kind} ${inputs.label}`, inputs, [entry], { script, description: script });
  expectUfwSuccess(change, kind, inputs, script, field);
  return previous[0];
}

// ---------------------------------------------------------------- rules

const RULE = ufwRuleKind.name;

/** What the host held for this rule before create: the stored tuple per needed tuple, or null. */
type RulePrevious = { stored: (UfwTuple | null)[] };

function storedMatches(rule: z.output<typeof UfwRule>, state: UfwFileState) {
  return findRuleTuples(rule, state.tuplesV4, state.tuplesV6, { ipv6: state.ipv6 });
}

/** A rule's record is keyed by its match (what ufw takes for the same rule), not its action or comment. */
const ruleKey = (rule: z.output<typeof UfwRule>) => beforeKey("ufw-rule", JSON.stringify(UFW_RULE_REPLACE_KEYS.map((key) => rule[key] ?? null)));

export const ufwRule = hostImplementation(ufwRuleKind, {
  replaceKeys: [],
  nestedReplaceKeys: { rule: UFW_RULE_REPLACE_KEYS },
  createBeforeReplace: true,
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const matches = storedMatches(inputs.rule, await readState(session, RULE, inputs));
    const seen: RulePrevious = { stored: matches.map((match) => match.found ?? null) };
    const what = `ufw rule ${commandLine(ruleToArgs(inputs.rule))}`;
    // A rule that is already there exactly is not added twice.
    const exact = exactlyStored(matches);
    // What the host held before this stack's first try: a cut earlier create may have added the rule.
    const previous = await rememberThenUfw(session, RULE, inputs, { key: ruleKey(inputs.rule), what, before: seen }, exact ? [] : [ruleToArgs(inputs.rule)], "rule");
    const adopted = previous.stored.some((tuple) => tuple !== null);
    if (exact) hostLog.info(inputs.connection.name, adopted ? `${what} already present: adopted, and kept on destroy` : `${what} already added by an earlier, interrupted run of this stack: removed on destroy`);
    return { id: `${inputs.connection.name}/ufw/${commandLine(ruleToArgs(inputs.rule))}`, outs: { ...inputs, previous } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const matches = storedMatches(props.rule, await readState(session, RULE, props));
    const found = matches.find((match) => match.found)?.found;
    // Gone from the host: report it gone, so the next up adds it again.
    if (!found) return {};
    const rule = { ...props.rule, action: found.action, comment: found.comment || undefined };
    return observedOnHost(id, { ...props, rule });
  },
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const state = await readState(session, RULE, news);
    await refuseCutOff(session, ruleChange(news, "changed"), state, predictUserRules(storedTuples(state), [news.rule], { ipv6: state.ipv6 }));
    await runUfw(session, RULE, news, [ruleToArgs(news.rule)], "rule");
    return { outs: { ...news, previous: olds.previous } };
  },
  async delete(_id, props, hosts) {
    const stored: (UfwTuple | null)[] = props.previous?.stored ?? [];
    const session = await hosts.sessionFor(props.connection);
    const before = stored.find((tuple): tuple is UfwTuple => tuple !== null);
    // Without a stored tuple the rule is removed; one that was there before gets its action and comment back and stays.
    const original = before && { ...props.rule, action: before.action, comment: before.comment || undefined };
    const state = await readState(session, RULE, props);
    const after = original ? predictUserRules(storedTuples(state), [original], { ipv6: state.ipv6 }) : predictAfterDelete(storedTuples(state), props.rule, { ipv6: state.ipv6 });
    await refuseCutOff(session, ruleChange(props, original ? "put back as it was" : "deleted"), state, after);
    await runUfw(session, RULE, props, [original ? ruleToArgs(original) : ruleToDeleteArgs(props.rule)]);
    await forgetBefore(session, `${RULE} ${props.label}`, props, [ruleKey(props.rule)]);
  },
});

/** A change that refuseCutOff judges: whose it is, and how its refusal reads. */
interface FilteringChange {
  kind: string;
  inputs: Labelled & { connection: { port: number } };
  field: string;
  /** e.g. "ufw rule allow 22/tcp was not deleted". */
  refused: string;
  /** The incoming policy the change sets (ufw's defaults); left out, the node's stays. */
  incomingAfter?: UfwFileState["defaults"]["incoming"];
}

const ruleChange = (inputs: RuleInputs, done: string): FilteringChange => ({ kind: RULE, inputs, field: "rule", refused: `ufw rule ${commandLine(ruleToArgs(inputs.rule))} was not ${done}` });

/**
 * Refuses a change on a node where ufw is on (a rule changed or removed, a stricter incoming
 * policy), when it would cut this program's SSH connection or split the node's cluster:
 * activation judges only switching ufw on, so this is the one check of a rule taken away later
 * (moved to another source, dropped from the stack, the cluster traffic switched off) and of a
 * running ufw told to deny. Nothing is changed when it refuses.
 */
async function refuseCutOff(session: HostSession, change: FilteringChange, state: UfwFileState, after: ReturnType<typeof storedTuples>): Promise<void> {
  const { inputs, incomingAfter } = change;
  // Checked here as well as in ruleChangeProblems: on a node where nothing can be cut, the facts' round trip is spared.
  if (!filtersIncoming(state) && !filtersIncoming(state, incomingAfter)) return;
  const facts = await readSwitchOnFacts(session);
  const { ssh, cluster } = ruleChangeProblems({ state, after, incomingAfter, facts, sshPort: inputs.connection.port, nodeName: inputs.connection.name });
  // The SSH connection first: a node this program cannot reach cannot be put right by it.
  const [problems, keep] =
    ssh.length > 0
      ? [ssh, "have a rule allow SSH from this program's address (in the stack's ufw.rules, or by hand on the node before a destroy)"]
      : [cluster, "have corosync allowed from every member's link address (ufw.clusterTraffic or a rule)"];
  if (problems.length === 0) return;
  throw new HardeningError(
    failureContext(change.kind, inputs, change.field),
    `${change.refused}: ufw is on, and ${problems.join("; ")}`,
    `nothing was changed by this step; ${keep}, then run the command again`,
  );
}

// ---------------------------------------------------------------- defaults and logging

const DEFAULTS = ufwDefaultsKind.name;
const DEFAULTS_KEY = "ufw-defaults";

/** What only the node can tell about switching ufw on (bridge netfilter, this program's source, its cluster), in one round trip. */
export async function readSwitchOnFacts(session: HostSession): Promise<SwitchOnFacts> {
  const result = await session.run(SWITCH_ON_FACTS_SCRIPT, { passSshConnection: true, description: "read bridge netfilter, $SSH_CONNECTION, the node's name and addresses and its corosync.conf" });
  return parseSwitchOnFacts(result.stdout);
}

/**
 * The ufw commands that set the defaults, after checking the routed policy against bridge
 * netfilter and, where ufw is on, that the new incoming policy cuts neither this program's SSH
 * connection nor the node's cluster (nothing changed if refused).
 */
async function defaultsCommands(session: HostSession, inputs: DefaultsInputs, state: UfwFileState): Promise<string[][]> {
  const bridgeNfCallIptables = inputs.defaults.routed === "allow" ? undefined : parseSwitchOnFacts((await session.run(BRIDGE_NETFILTER_FACT, { description: "read net.bridge.bridge-nf-call-iptables" })).stdout).bridgeNfCallIptables;
  const routed = routedPolicyFor(inputs.defaults.routed, bridgeNfCallIptables);
  if (inputs.defaults.routed !== undefined) {
    const problem = forwardPolicyProblem({ routed: inputs.defaults.routed, bridgeNfCallIptables, allowForwardDeny: inputs.defaults.allowForwardDeny });
    if (problem) throw new HardeningError(failureContext(DEFAULTS, inputs, "defaults.routed"), problem, "nothing was changed on the host");
  }
  const incoming = inputs.defaults.incoming;
  if (state.enabled && incoming !== state.defaults.incoming) {
    const change = { kind: DEFAULTS, inputs, field: "defaults.incoming", refused: `ufw's incoming policy was not set to ${incoming}`, incomingAfter: incoming };
    await refuseCutOff(session, change, state, storedTuples(state));
  }
  return defaultsArgs({ ...inputs.defaults, routed }, state);
}

export const ufwDefaults = hostImplementation(ufwDefaultsKind, {
  replaceKeys: [],
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const state = await readState(session, DEFAULTS, inputs);
    const entry = { key: DEFAULTS_KEY, what: "ufw's default policies and logging", before: { ...state.defaults, logging: state.logging } };
    const previous = await rememberThenUfw(session, DEFAULTS, inputs, entry, await defaultsCommands(session, inputs, state), "defaults");
    return { id: `${inputs.connection.name}/ufw/defaults`, outs: { ...inputs, previous } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const state = await readState(session, DEFAULTS, props);
    const defaults = { ...props.defaults };
    for (const key of ["incoming", "outgoing", "routed"] as const) if (defaults[key] !== undefined) defaults[key] = state.defaults[key];
    if (defaults.logging !== undefined && defaults.logging !== "on") defaults.logging = state.logging;
    return observedOnHost(id, { ...props, defaults });
  },
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    await runUfw(session, DEFAULTS, news, await defaultsCommands(session, news, await readState(session, DEFAULTS, news)), "defaults");
    return { outs: { ...news, previous: olds.previous } };
  },
  async delete(_id, props, hosts) {
    if (!props.previous) return;
    const session = await hosts.sessionFor(props.connection);
    const state = await readState(session, DEFAULTS, props);
    const { logging, ...policies } = props.previous;
    await runUfw(session, DEFAULTS, props, defaultsArgs({ ...policies, logging, allowForwardDeny: true }, state));
    await forgetBefore(session, `${DEFAULTS} ${props.label}`, props, [DEFAULTS_KEY]);
  },
});

// ---------------------------------------------------------------- activation

const ACTIVATION = ufwActivationKind.name;
const ACTIVATION_KEY = "ufw-activation";

export const ufwActivation = hostImplementation(ufwActivationKind, {
  replaceKeys: [],
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const state = await readState(session, ACTIVATION, inputs);
    const entry = { key: ACTIVATION_KEY, what: "ufw on or off", before: { enabled: state.enabled } };
    const previous = await rememberThenUfw(session, ACTIVATION, inputs, entry, await activationCommands(session, inputs, state), "enabled");
    return { id: `${inputs.connection.name}/ufw/activation`, outs: { ...inputs, previous } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const state = await readState(session, ACTIVATION, props);
    return observedOnHost(id, { ...props, enabled: state.enabled });
  },
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    await runUfw(session, ACTIVATION, news, await activationCommands(session, news, await readState(session, ACTIVATION, news)), "enabled");
    return { outs: { ...news, previous: olds.previous } };
  },
  async delete(_id, props, hosts) {
    if (props.previous === undefined) return;
    const session = await hosts.sessionFor(props.connection);
    const state = await readState(session, ACTIVATION, props);
    if (state.enabled !== props.previous.enabled) await runUfw(session, ACTIVATION, props, [activationArgs(props.previous.enabled)]);
    await forgetBefore(session, `${ACTIVATION} ${props.label}`, props, [ACTIVATION_KEY]);
  },
});

/**
 * The ufw command that switches ufw on or off, if it is not so already. Before switching on, judges the rules really stored, with what the node
 * tells now: the preflight judged the same before the first change, but ran only when its inputs
 * changed (not when ufw was switched off by hand since, or rules stored by hand) and the node may
 * have changed in between (a member joined its cluster), while this is the last moment before a
 * lockout that no later step could undo.
 */
async function activationCommands(session: HostSession, inputs: ActivationInputs, state: UfwFileState): Promise<string[][]> {
  if (state.enabled === inputs.enabled) return [];
  if (inputs.enabled) {
    const facts = await readSwitchOnFacts(session);
    if (state.defaults.routed !== "allow" && facts.bridgeNfCallIptables === true) {
      // The routed policy may be the host's own (Debian ships DROP): switching ufw on applies it to bridged guests.
      const problem = forwardPolicyProblem({ routed: state.defaults.routed, bridgeNfCallIptables: true, allowForwardDeny: inputs.guard.allowForwardDeny });
      if (problem) throw new HardeningError(failureContext(ACTIVATION, inputs, "enabled"), `ufw was not switched on: ${problem}`, "nothing was changed by this step; set ufw.defaults.routed to allow, or opt in with ufw.defaults.allowForwardDeny");
    }
    const { ssh, cluster } = switchOnProblems({
      defaults: { incoming: state.defaults.incoming },
      rules: [],
      activation: inputs,
      sshPort: inputs.guard.sshPort,
      sshAddressFamily: inputs.guard.sshAddressFamily,
      existing: storedTuples(state),
      ipv6: state.ipv6,
      facts,
      nodeName: inputs.connection.name,
    });
    if (ssh.length > 0) {
      throw new HardeningError(failureContext(ACTIVATION, inputs, "enabled"), `ufw was not switched on: ${ssh.join("; ")}`, "nothing was changed by this step; the host's stored rules differ from the program's: run `pulumi refresh` and check `ufw show added` on the host");
    }
    if (cluster.length > 0) {
      throw new HardeningError(
        failureContext(ACTIVATION, inputs, "enabled"),
        `ufw was not switched on: ${cluster.join("; ")}`,
        "nothing was changed by this step; allow corosync from every member's link address (ufw.clusterTraffic or a rule), then run `pulumi up` again",
      );
    }
  }
  return [activationArgs(inputs.enabled)];
}

// ---------------------------------------------------------------- baseline

const BASELINE = ufwBaselineKind.name;
const BASELINE_KEY = "ufw-files";

/** ufw's state as parsed from file snapshots, for comparing meaning rather than bytes. */
function meaningOf(snapshots: FileSnapshot[]): UfwFileState | undefined {
  try {
    return parseUfwFiles(Object.fromEntries(snapshots.filter((s) => s.present).map((s) => [s.path, snapshotText(s) ?? ""])));
  } catch {
    return undefined;
  }
}

/**
 * ufw rewrites its files whole (e.g. user.rules loses the package's layout
 * after the first add and delete), so undoing every change through ufw
 * leaves the same rules in different bytes. This resource, created before
 * and deleted after every other ufw resource of the host, keeps the files as
 * they were and puts those bytes back when the meaning is the same again; if
 * someone changed ufw by hand meanwhile, their change is kept.
 */
export const ufwBaseline = hostImplementation(ufwBaselineKind, {
  replaceKeys: [],
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const seen = await readFiles(session, Object.values(UFW_FILES));
    // Recorded too: the files as this stack first found them, before any of its ufw changes.
    const [previous] = await rememberBefore(session, `${BASELINE} ${inputs.label}`, inputs, [{ key: BASELINE_KEY, what: "ufw's files", before: seen }]);
    return { id: `${inputs.connection.name}/ufw/baseline`, outs: { ...inputs, previous } };
  },
  read: async (id, props) => ({ id, props }),
  update: async (_id, olds, news) => ({ outs: { ...news, previous: olds.previous } }),
  async delete(_id, props, hosts) {
    const previous: FileSnapshot[] = props.previous ?? [];
    const session = await hosts.sessionFor(props.connection);
    const current = await readFiles(session, previous.map((snapshot) => snapshot.path));
    const before = meaningOf(previous);
    if (before && isDeepStrictEqual(before, meaningOf(current))) {
      for (const snapshot of previous) {
        const now = current.find((file) => file.path === snapshot.path);
        if (isDeepStrictEqual(now, snapshot)) continue;
        const result = await session.run(underHostLock(restoreScript(snapshot)), { stdin: restoreInput(snapshot), description: `restore ${snapshot.path}` });
        expectSuccess(result, failureContext(BASELINE, props), `restore ${snapshot.path}`, "the rules are as before; only the file's layout differs, which is harmless");
      }
    }
    await forgetBefore(session, `${BASELINE} ${props.label}`, props, [BASELINE_KEY]);
  },
});
