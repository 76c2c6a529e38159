import { expectSuccess, failureContext } from "../core/errors";
import { implementation, observedOnHost } from "../core/implementation";
import { forgetBefore, rememberBefore } from "../ssh/before";
import { underHostLock } from "../ssh/lock";
import { HostSession, sessionFor } from "../ssh/transport";
import { installedFrom, installScript, missingPackages, purgeScript, queryScript } from "./logic";
import { PackagesInputs } from "./schema";
import { packagesKind } from "./kinds";

const RESOURCE = packagesKind.name;

async function installed(session: HostSession, packages: readonly string[]) {
  const result = await session.run(queryScript(packages), { description: `dpkg-query -W ${packages.join(" ")}` });
  return installedFrom(result.stdout);
}

const packageKey = (name: string) => `package-${name}`;

/**
 * Installs what is missing; returns the packages that were missing before
 * this stack first tried, as recorded on the node before any install (a cut
 * create may have installed some of them already).
 */
async function ensure(inputs: PackagesInputs): Promise<string[]> {
  const session = await sessionFor(inputs.connection);
  const present = await installed(session, inputs.packages);
  const entries = inputs.packages.map((name) => ({ key: packageKey(name), what: `package ${name}`, before: { installed: present.has(name) } }));
  const recorded = await rememberBefore(session, `${RESOURCE} ${inputs.label}`, inputs, entries);
  const missing = missingPackages(inputs.packages, present);
  if (missing.length > 0) {
    const script = installScript(missing);
    const result = await session.run(underHostLock(script), { description: script });
    expectSuccess(result, failureContext(RESOURCE, inputs, "packages"), script, "check the host's apt sources and network (`apt-get update` on the host)");
  }
  return inputs.packages.filter((_name, i) => !recorded[i].installed);
}

export const packages = implementation(packagesKind, {
  replaceKeys: [],
  async create(inputs) {
    const installedByUs = await ensure(inputs);
    return { id: `${inputs.connection.name}/packages`, outs: { ...inputs, previous: { installedByUs } } };
  },
  async read(id, props) {
    const session = await sessionFor(props.connection);
    const present = await installed(session, props.packages);
    const observed = { ...props, packages: props.packages.filter((name: string) => present.has(name)) };
    return observedOnHost(id, observed);
  },
  async update(_id, olds, news) {
    const installedByUs = [...new Set([...(olds.previous?.installedByUs ?? []), ...(await ensure(news))])];
    // A package no longer wanted that was there before needs its record no more (one we installed is purged on delete).
    const dropped = olds.packages.filter((name: string) => !news.packages.includes(name) && !installedByUs.includes(name));
    await forgetBefore(await sessionFor(news.connection), `${RESOURCE} ${news.label}`, news, dropped.map(packageKey));
    return { outs: { ...news, previous: { installedByUs } } };
  },
  async delete(_id, props) {
    const ours: string[] = props.previous?.installedByUs ?? [];
    const session = await sessionFor(props.connection);
    if (props.removeOnDestroy && ours.length > 0) {
      const script = purgeScript(ours);
      const result = await session.run(underHostLock(script), { description: script });
      expectSuccess(result, failureContext(RESOURCE, props), script, "purge the packages by hand or keep them; then `pulumi state delete` this resource");
    }
    await forgetBefore(session, `${RESOURCE} ${props.label}`, props, [...new Set([...props.packages, ...ours])].map(packageKey));
  },
});
