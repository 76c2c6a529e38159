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

const APT_GET = `${APT_ENV} apt-get -o DPkg::Lock::Timeout=300 -q`;

/** apt-get update; apt waits for its own lock rather than failing. */
export const UPDATE_SCRIPT = `${APT_GET} update`;

/** apt-get install for the missing packages, from whatever package lists apt has. */
export function installScript(packages: readonly string[]): string {
  return `${APT_GET} -y install --no-install-recommends ${commandLine(packages)}`;
}

/** A repository apt-get update could not fetch from, as apt reported it. */
export interface AptFetchFailure {
  /** The repository's base URL, as in the sources (the fetched URL up to /dists/). */
  repository: string;
  /** apt's reason, e.g. "401 Unauthorized" or "Temporary failure resolving 'deb.debian.org'". */
  reason: string;
}

/**
 * The repositories apt-get update could not fetch, from its output: apt 2.6 (Debian 12) prints
 * `E: Failed to fetch URL  401  Unauthorized [IP: ADDR 443]` (W: for some failures), apt 3
 * (Debian 13) `Error:`/`Warning:` in place of `E:`/`W:`. One entry per repository, in order.
 */
export function aptFetchFailures(output: string): AptFetchFailure[] {
  const failures = new Map<string, string>();
  for (const line of output.split("\n")) {
    const match = /^(?:E|W|Err|Error|Warning):\s*Failed to fetch (\S+)\s+(.*?)\s*(?:\[IP: [^\]]*\])?\s*$/.exec(line.trim());
    if (!match) continue;
    const [, url, reason] = match;
    const repository = url.includes("/dists/") ? url.slice(0, url.indexOf("/dists/")) : url;
    if (!failures.has(repository)) failures.set(repository, reason.replace(/\s+/g, " "));
  }
  return [...failures].map(([repository, reason]) => ({ repository, reason }));
}

/** Prints `repository<TAB>files...` for each repository: the sources files that name it. */
export function sourcesFilesScript(repositories: readonly string[]): string {
  return repositories
    .map((repository) => `printf '%s\\t%s\\n' ${commandLine([repository])} "$(grep -lsF -- ${commandLine([repository])} /etc/apt/sources.list /etc/apt/sources.list.d/* | tr '\\n' ' ')"`)
    .join("\n");
}

/** Parses sourcesFilesScript's output: the files naming each repository. */
export function sourcesFilesFrom(output: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  for (const line of output.split("\n")) {
    const [repository, list = ""] = line.split("\t");
    if (repository) files.set(repository, list.split(" ").filter(Boolean));
  }
  return files;
}

/** One failed repository for people: where it is configured, why it failed, and what to do about it. */
export function describeFetchFailure(failure: AptFetchFailure, files: readonly string[]): string {
  const where = files.length > 0 ? ` (configured in ${files.join(", ")})` : "";
  const what = `apt-get update could not fetch ${failure.repository}${where}: ${failure.reason}`;
  const host = /^[a-z]+:\/\/([^/:]+)/.exec(failure.repository)?.[1];
  if (host === "enterprise.proxmox.com" && /^40[13]\b/.test(failure.reason)) {
    return `${what}. That is Proxmox's enterprise repository, which needs a subscription key. Without one, disable it (comment out its line in a .list file, or add "Enabled: false" to a .sources file: /etc/apt/sources.list.d/pve-enterprise.list on Proxmox VE 8, pve-enterprise.sources on 9) and use the no-subscription repository (http://download.proxmox.com/debian/pve, component pve-no-subscription) instead`;
  }
  return `${what}. Fix or disable that repository (its file under /etc/apt/), or the node's network`;
}

export function purgeScript(packages: readonly string[]): string {
  return `${APT_GET} -y purge ${commandLine(packages)}`;
}
