import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { observedOnHost } from "../core/implementation";
import { hostImplementation } from "../ssh/implementation";
import { forgetBefore, rememberBefore, rememberBeforeThen } from "../ssh/before";
import { underHostLock } from "../ssh/lock";
import { commandLine } from "../ssh/quote";
import { HostSession } from "../ssh/transport";
import { desiredValues, keysToSet, OPTIONS_PATH, optionsFromLive, parseOptionsJson, previousValues, restoreArgs, setArgs } from "./logic";
import { ClusterFirewallInputs } from "./schema";
import { clusterFirewallKind } from "./kinds";

const RESOURCE = clusterFirewallKind.name;


async function readLive(session: HostSession, inputs: ClusterFirewallInputs) {
  const argv = ["pvesh", "get", OPTIONS_PATH, "--output-format", "json"];
  const result = await session.run(commandLine(argv), { description: commandLine(argv) });
  expectSuccess(result, failureContext(RESOURCE, inputs), commandLine(argv), "check that this is a Proxmox VE node (pvesh on PATH) and that pve-cluster runs (`systemctl status pve-cluster`)");
  try {
    return parseOptionsJson(result.stdout);
  } catch (error) {
    throw new HardeningError(failureContext(RESOURCE, inputs), `could not read pvesh's answer: ${(error as Error).message}`, "run the command by hand on the host and report its output");
  }
}

/** One record per option key, so that keys managed later get theirs while the first ones keep the oldest. */
const optionKey = (inputs: { cluster: string }, key: string) => `pve-option-${inputs.cluster}-${key}`;

/**
 * Sets the options that differ from `live` and returns the managed keys' values before this stack
 * first set them: recorded on the node before the change, in the same round trip, so that a cut
 * `pvesh set` is not taken for the cluster's own value by the next run.
 */
async function rememberThenApply(session: HostSession, inputs: ClusterFirewallInputs, live: Record<string, string>): Promise<Record<string, string | null>> {
  const desired = desiredValues(inputs.options);
  const seen = Object.entries(previousValues(desired, live));
  const entries = seen.map(([key, value]) => ({ key: optionKey(inputs, key), what: `${OPTIONS_PATH} ${key}`, before: value }));
  const resource = `${RESOURCE} ${inputs.label}`;
  const toSet = keysToSet(desired, live);
  let recorded: (string | null)[];
  if (toSet.length === 0) recorded = await rememberBefore(session, resource, inputs, entries);
  else {
    const command = commandLine(setArgs(Object.fromEntries(toSet.map((key) => [key, desired[key]]))));
    const { previous, change } = await rememberBeforeThen(session, resource, inputs, entries, { script: command, description: command });
    expectSuccess(change, failureContext(RESOURCE, inputs, `options.${toSet[0]}`), command, "check the value against `pvesh usage /cluster/firewall/options -v`");
    recorded = previous;
  }
  return Object.fromEntries(seen.map(([key], i) => [key, recorded[i]]));
}

export const clusterFirewall = hostImplementation(clusterFirewallKind, {
  replaceKeys: ["cluster"],
  sharedByCluster: true,
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const live = await readLive(session, inputs);
    const previous = await rememberThenApply(session, inputs, live);
    return { id: `${inputs.cluster}/cluster-firewall`, outs: { ...inputs, previous } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const live = await readLive(session, props);
    const observed = { ...props, options: optionsFromLive(props.options, live) };
    return observedOnHost(id, observed);
  },
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const live = await readLive(session, news);
    // Keys managed for the first time get their pre-change value remembered too.
    const previous = { ...(await rememberThenApply(session, news, live)), ...olds.previous };
    return { outs: { ...news, previous } };
  },
  async delete(_id, props, hosts) {
    const argv = restoreArgs(props.previous ?? {});
    if (!argv) return;
    const session = await hosts.sessionFor(props.connection);
    const result = await session.run(underHostLock(commandLine(argv)), { description: commandLine(argv) });
    expectSuccess(result, failureContext(RESOURCE, props), commandLine(argv), "set the options back by hand with the command above, then `pulumi state delete` this resource");
    await forgetBefore(session, `${RESOURCE} ${props.label}`, props, Object.keys(props.previous).map((key) => optionKey(props, key)));
  },
});
