import { failureContext, HardeningError } from "../core/errors";
import { hostLog } from "../core/log";
import { hostImplementation } from "../ssh/implementation";
import { HostSessions } from "../ssh/transport";

import { recordDir } from "../ssh/before";
import { factsScript, installationTraceScript, parseFacts, preflightProblems, THIS_INSTALLATION } from "./logic";
import { PreflightInputs, PreflightObserved } from "./schema";
import { preflightKind } from "./kinds";

// A host's preflight: reads the node once, changes nothing, and refuses with every problem
// it finds. Every resource that changes the host depends on it, so a refused `up` leaves the
// host untouched; each step's own check just before it acts stays (the host may change between).

const RESOURCE = preflightKind.name;

/** CHANGELOG.md quotes it for the create that upgrading from 0.1.0 shows; the upgrade test looks for it in the preview. */
export const PREFLIGHT_CREATE_NOTE =
  "hostPreflight is created: a read-only check of this node before any change, which changes nothing on it (new in 0.2.0: a stack deployed by 0.1.0 gets it on its first up after upgrading)";

async function check(hosts: HostSessions, inputs: PreflightInputs): Promise<PreflightObserved> {
  const session = await hosts.sessionFor(inputs.connection);
  const result = await session.run(factsScript(inputs), {
    passSshConnection: true,
    description: "read what the hardening needs from the node (bridge netfilter, packages, fail2ban, logs, ufw, this program's source address, corosync.conf)",
  });
  const facts = parseFacts(result.stdout, inputs.jails.length);
  const problems = preflightProblems(inputs, facts);
  if (problems.length > 0) {
    throw new HardeningError(
      failureContext(RESOURCE, inputs, [...new Set(problems.map((p) => p.field))].join(", ")),
      `refused before the first change on this host, so nothing was changed on it:\n    ${problems.map((p) => `${p.field}: ${p.problem}`).join("\n    ")}`,
      "fix the config (or the host), then run `pulumi up` again",
    );
  }
  if (facts.fail2banTest && !facts.fail2banTest.ok) {
    // Not a refusal: the files this program writes may be what fixes it, and the reload tests the result.
    hostLog.info(inputs.connection.name, `fail2ban's configuration as found on the host fails its own test (fail2ban-client -t), so fail2ban cannot start: ${facts.fail2banTest.errors.join("; ")}`);
  }
  return { fail2banTestErrors: facts.fail2banTest?.errors ?? [] };
}

export const preflight = hostImplementation(preflightKind, {
  replaceKeys: [],
  createNote: () => PREFLIGHT_CREATE_NOTE,
  async create(inputs, hosts) {
    const observed = await check(hosts, inputs);
    return { id: `${inputs.connection.name}/preflight`, outs: { ...inputs, observed } };
  },
  // Every resource of the host waits for it: a node that is not the one the state describes stops them all.
  async onNewHostKey(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const { owner, connection } = inputs;
    const result = await session.run(installationTraceScript(owner, connection.name), { description: "look for this stack's records and files on the node (its pinned host key changed)" });
    if (result.code === 0 && result.stdout.split("\n").includes(THIS_INSTALLATION)) return;
    throw new HardeningError(
      failureContext(RESOURCE, inputs, "hostKey"),
      `the pinned host key changed, and the node has nothing of this stack's (no records in ${recordDir(owner, connection.name)}, no fail2ban file of this program): it looks reinstalled, so the hardening this stack's state records is not on it; nothing was changed`,
      `run \`npm run retire -- ${connection.name}\` (it takes the old installation's resources out of the state, so nothing is rolled back onto the new one), then \`pulumi up\` hardens the new installation`,
    );
  },
  // Nothing on the host belongs to it: refresh keeps it as it is.
  read: async (id, props) => ({ id, props }),
  async update(_id, _olds, news, hosts) {
    return { outs: { ...news, observed: await check(hosts, news) } };
  },
  delete: async () => undefined,
});
