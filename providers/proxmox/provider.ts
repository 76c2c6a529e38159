import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { observedOnHost } from "../core/implementation";
import { hostImplementation } from "../ssh/implementation";
import { forgetBefore, rememberBefore } from "../ssh/before";
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
 * The managed keys' values before this stack first set them: recorded on the
 * node before the change, so that a cut `pvesh set` is not taken for the
 * cluster's own value by the next run.
 */
async function rememberPrevious(session: HostSession, inputs: ClusterFirewallInputs, live: Record<string, string>): Promise<Record<string, string | null>> {
  const seen = Object.entries(previousValues(desiredValues(inputs.options), live));
  const entries = seen.map(([key, value]) => ({ key: optionKey(inputs, key), what: `${OPTIONS_PATH} ${key}`, before: value }));
  const recorded = await rememberBefore(session, `${RESOURCE} ${inputs.label}`, inputs, entries);
  return Object.fromEntries(seen.map(([key], i) => [key, recorded[i]]));
}

async function apply(session: HostSession, inputs: ClusterFirewallInputs, live: Record<string, string>) {
  const desired = desiredValues(inputs.options);
  const toSet = keysToSet(desired, live);
  if (toSet.length === 0) return;
  const argv = setArgs(Object.fromEntries(toSet.map((key) => [key, desired[key]])));
  const result = await session.run(underHostLock(commandLine(argv)), { description: commandLine(argv) });
  expectSuccess(result, failureContext(RESOURCE, inputs, `options.${toSet[0]}`), commandLine(argv), "check the value against `pvesh usage /cluster/firewall/options -v`");
}

export const clusterFirewall = hostImplementation(clusterFirewallKind, {
  replaceKeys: ["cluster"],
  sharedByCluster: true,
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const live = await readLive(session, inputs);
    const previous = await rememberPrevious(session, inputs, live);
    await apply(session, inputs, live);
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
    const previous = { ...(await rememberPrevious(session, news, live)), ...olds.previous };
    await apply(session, news, live);
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
