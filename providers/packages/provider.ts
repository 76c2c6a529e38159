import { implementation, observedOnHost } from "../core/implementation";
import { expectSuccess, underHostLock } from "../ssh/files";
import { HostSession, sessionFor } from "../ssh/transport";
import { installedFrom, installScript, missingPackages, purgeScript, queryScript } from "./logic";
import { PackagesInputs, packagesInputsSchema } from "./schema";

const RESOURCE = "host:Packages";

async function installed(session: HostSession, packages: readonly string[]) {
  const result = await session.run(queryScript(packages), { description: `dpkg-query -W ${packages.join(" ")}` });
  return installedFrom(result.stdout);
}

async function ensure(inputs: PackagesInputs): Promise<string[]> {
  const session = await sessionFor(inputs.connection);
  const missing = missingPackages(inputs.packages, await installed(session, inputs.packages));
  if (missing.length === 0) return [];
  const script = installScript(missing);
  const result = await session.run(underHostLock(script), { description: script });
  expectSuccess(result, { host: inputs.connection.name, resource: `${RESOURCE} ${inputs.label}`, field: "packages" }, script, "check the host's apt sources and network (`apt-get update` on the host)");
  return missing;
}

export const packages = implementation(RESOURCE, {
  schema: packagesInputsSchema,
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
    return { outs: { ...news, previous: { installedByUs } } };
  },
  async delete(_id, props) {
    const ours: string[] = props.previous?.installedByUs ?? [];
    if (!props.removeOnDestroy || ours.length === 0) return;
    const session = await sessionFor(props.connection);
    const script = purgeScript(ours);
    const result = await session.run(underHostLock(script), { description: script });
    expectSuccess(result, { host: props.connection.name, resource: `${RESOURCE} ${props.label}` }, script, "purge the packages by hand or keep them; then `pulumi state delete` this resource");
  },
});
