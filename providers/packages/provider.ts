import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { hostLog } from "../core/log";
import { observedOnHost } from "../core/implementation";
import { hostImplementation } from "../ssh/implementation";
import { forgetBefore, rememberBefore } from "../ssh/before";
import { underHostLock } from "../ssh/lock";
import { HostSession, HostSessions } from "../ssh/transport";
import { aptFetchFailures, describeFetchFailure, installedFrom, installScript, missingPackages, purgeScript, queryScript, sourcesFilesFrom, sourcesFilesScript, UPDATE_SCRIPT } from "./logic";
import { PackagesInputs } from "./schema";
import { packagesKind } from "./kinds";

const RESOURCE = packagesKind.name;

async function installed(session: HostSession, packages: readonly string[]) {
  const result = await session.run(queryScript(packages), { description: `dpkg-query -W ${packages.join(" ")}` });
  return installedFrom(result.stdout);
}

const packageKey = (name: string) => `package-${name}`;

/**
 * apt-get update, then install. A repository that fails the update (a node without a Proxmox
 * subscription gets 401 from the enterprise repository, and exit code 100) leaves apt with the
 * other repositories' lists: the install still runs from those, and a failure names the
 * repository and what to do about it.
 */
async function install(session: HostSession, inputs: PackagesInputs, missing: readonly string[]) {
  const context = failureContext(RESOURCE, inputs, "packages");
  const update = await session.run(underHostLock(UPDATE_SCRIPT), { description: UPDATE_SCRIPT });
  const failures = update.code === 0 ? [] : aptFetchFailures(`${update.stdout}\n${update.stderr}`);
  if (update.code !== 0 && failures.length === 0) expectSuccess(update, context, UPDATE_SCRIPT, "run `apt-get update` on the host and fix what it reports");
  let failed: string[] = [];
  if (failures.length > 0) {
    const files = sourcesFilesFrom((await session.run(sourcesFilesScript(failures.map((f) => f.repository)), { description: "find the sources files of the failed repositories" })).stdout);
    failed = failures.map((failure) => describeFetchFailure(failure, files.get(failure.repository) ?? []));
  }
  const script = installScript(missing);
  const result = await session.run(underHostLock(script), { description: script });
  if (result.code !== 0 && failed.length > 0) {
    throw new HardeningError(
      context,
      `apt-get could not install ${missing.join(", ")}, and apt-get update failed for ${failures.length === 1 ? "a repository" : `${failures.length} repositories`}, so apt knew only what the others offer:\n    ${failed.join("\n    ")}`,
      "fix or disable the failed repository as said above (or add a repository that has the packages), then run `pulumi up` again; nothing else was changed on this host",
      { command: script, exitCode: result.code, stderr: result.stderr },
    );
  }
  expectSuccess(result, context, script, "check the host's apt sources and network (`apt-get update` on the host)");
  if (failed.length > 0) hostLog.warn(inputs.connection.name, `installed ${missing.join(", ")} from the repositories that answered; ${failed.join("; ")}`);
}

/**
 * Installs what is missing; returns the packages that were missing before
 * this stack first tried, as recorded on the node before any install (a cut
 * create may have installed some of them already).
 */
async function ensure(hosts: HostSessions, inputs: PackagesInputs): Promise<string[]> {
  const session = await hosts.sessionFor(inputs.connection);
  const present = await installed(session, inputs.packages);
  const entries = inputs.packages.map((name) => ({ key: packageKey(name), what: `package ${name}`, before: { installed: present.has(name) } }));
  const recorded = await rememberBefore(session, `${RESOURCE} ${inputs.label}`, inputs, entries);
  const missing = missingPackages(inputs.packages, present);
  if (missing.length > 0) await install(session, inputs, missing);
  return inputs.packages.filter((_name, i) => !recorded[i].installed);
}

export const packages = hostImplementation(packagesKind, {
  replaceKeys: [],
  async create(inputs, hosts) {
    const installedByUs = await ensure(hosts, inputs);
    return { id: `${inputs.connection.name}/packages`, outs: { ...inputs, previous: { installedByUs } } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const present = await installed(session, props.packages);
    const observed = { ...props, packages: props.packages.filter((name: string) => present.has(name)) };
    return observedOnHost(id, observed);
  },
  async update(_id, olds, news, hosts) {
    const installedByUs = [...new Set([...(olds.previous?.installedByUs ?? []), ...(await ensure(hosts, news))])];
    // A package no longer wanted that was there before needs its record no more (one we installed is purged on delete).
    const dropped = olds.packages.filter((name: string) => !news.packages.includes(name) && !installedByUs.includes(name));
    await forgetBefore(await hosts.sessionFor(news.connection), `${RESOURCE} ${news.label}`, news, dropped.map(packageKey));
    return { outs: { ...news, previous: { installedByUs } } };
  },
  async delete(_id, props, hosts) {
    const ours: string[] = props.previous?.installedByUs ?? [];
    const session = await hosts.sessionFor(props.connection);
    if (props.removeOnDestroy && ours.length > 0) {
      const script = purgeScript(ours);
      const result = await session.run(underHostLock(script), { description: script });
      expectSuccess(result, failureContext(RESOURCE, props), script, "purge the packages by hand or keep them; then `pulumi state delete` this resource");
    }
    await forgetBefore(session, `${RESOURCE} ${props.label}`, props, [...new Set([...props.packages, ...ours])].map(packageKey));
  },
});
