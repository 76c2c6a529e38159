import { commandLine } from "../ssh/quote";

// apt is slow and takes a lock: ask dpkg first and run apt only for what is
// missing, under the host lock so two resources never run apt at once.

/** Script printing `name<TAB>status` for each package, status empty when unknown. */
export function queryScript(packages: readonly string[]): string {
  return packages.map((name) => `printf '%s\\t%s\\n' ${commandLine([name])} "$(dpkg-query -W -f='\${db:Status-Abbrev}' ${commandLine([name])} 2>/dev/null)"`).join("\n");
}

/** Parses queryScript's output into the packages that are fully installed. */
export function installedFrom(output: string): Set<string> {
  const installed = new Set<string>();
  for (const line of output.split("\n")) {
    const [name, status] = line.split("\t");
    if (name && status?.startsWith("ii")) installed.add(name);
  }
  return installed;
}

export function missingPackages(wanted: readonly string[], installed: Set<string>): string[] {
  return wanted.filter((name) => !installed.has(name));
}

const APT_ENV = "DEBIAN_FRONTEND=noninteractive";

/** apt-get install for the missing packages; apt waits for its own lock rather than failing. */
export function installScript(packages: readonly string[]): string {
  return [
    `${APT_ENV} apt-get -o DPkg::Lock::Timeout=300 -q update`,
    `${APT_ENV} apt-get -o DPkg::Lock::Timeout=300 -q -y install --no-install-recommends ${commandLine(packages)}`,
  ].join(" && ");
}

export function purgeScript(packages: readonly string[]): string {
  return `${APT_ENV} apt-get -o DPkg::Lock::Timeout=300 -q -y purge ${commandLine(packages)}`;
}
