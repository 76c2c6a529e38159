/**
 * The least host CPU that the hardening with the project's checks can cost (issue 18, point 2):
 *   node --import tsx bench/checked-floor.ts [hosts=1] [rounds=5]
 * The floor (bench/floor.sh) against the floor with every check the project makes on a first
 * apply added once, in the same single script and SSH session: no records, no state reads, no
 * engine, one Python start per check. Each round starts fresh hosts for each script, alternating,
 * so that load changes hit both alike; prints the medians of the CPU used under the hosts' sshd.
 */
import "./env";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { owningPackageScript, renderFilter, sampleCheckArgs, samplesFileContent } from "../providers/fail2ban/logic";
import { proxmoxFilterDefaults, referenceProxmoxJail, referenceSshdJail } from "../providers/fail2ban/schema";
import { reloadScript } from "../providers/fail2ban/service";
import { OPTIONS_PATH } from "../providers/proxmox/logic";
import { shellQuote } from "../providers/ssh/quote";
import { FLOOR_SCRIPT, runFloor } from "./floor";
import { freshHosts, sandboxDown, useSandboxOf, writeKnownHosts } from "./hosts";
import { repoRoot } from "./tree";
import { log, median } from "./util";

const FLOOR_RELOAD = /^if fail2ban-client ping .*$/m;

/** floor.sh with the project's checks: before the changes, and its tested reload instead of the floor's. */
export function checkedFloorScript(floor: string): string {
  if (!FLOOR_RELOAD.test(floor)) throw new Error(`${FLOOR_SCRIPT} has no line 'if fail2ban-client ping ...' to replace with the tested reload`);
  const filterPath = `/etc/fail2ban/filter.d/${proxmoxFilterDefaults.name}.conf`;
  const [samples, filter] = ['"$dir/samples.log"', '"$dir/filter.conf"'];
  const checks = [
    "# The project's checks, each once (the preflight's test of the configuration as found, the",
    "# cluster firewall option's read, the filter's owner and its sample check).",
    "fail2ban-client -t </dev/null >/dev/null 2>&1 || true",
    `pvesh get ${OPTIONS_PATH} --output-format json >/dev/null`,
    `${owningPackageScript(filterPath)} >/dev/null`,
    "dir=$(mktemp -d)",
    `printf '%s' ${shellQuote(renderFilter(proxmoxFilterDefaults))} > ${filter}`,
    `printf '%s' ${shellQuote(samplesFileContent(proxmoxFilterDefaults.samples))} > ${samples}`,
    `SETUPTOOLS_USE_DISTUTILS=stdlib fail2ban-regex ${sampleCheckArgs(samples, filter).join(" ")} >/dev/null`,
    'rm -rf "$dir"',
    "",
  ].join("\n");
  return floor
    .replace(/^set -e\n/m, `set -e\n\n${checks}`)
    // The project leaves ufw's defaults alone where they already match, as on these fresh hosts.
    .replace(/^ufw default .*\n/gm, "")
    .replace(FLOOR_RELOAD, () => reloadScript([referenceSshdJail.name, referenceProxmoxJail.name]));
}

async function main(): Promise<void> {
  const hosts = Number(process.argv[2] ?? 1);
  const rounds = Number(process.argv[3] ?? 5);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 20) throw new Error("hosts: 1..20");
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new Error("rounds: 1..10");
  const floor = readFileSync(FLOOR_SCRIPT, "utf8");
  const scripts = { floor, "checked floor": checkedFloorScript(floor) };
  useSandboxOf(repoRoot);
  const dir = mkdtempSync(join(tmpdir(), "pbn-checked-floor-"));
  const perHost: Record<string, number[]> = { floor: [], "checked floor": [] };
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, script] of Object.entries(scripts)) {
        const inventory = await freshHosts(hosts);
        writeKnownHosts(inventory, join(dir, "known_hosts"));
        const result = await runFloor(inventory, join(dir, "known_hosts"), script);
        perHost[name].push(result.cpu.hostCommands / hosts);
        log(`round ${round}/${rounds}, ${name}: ${(result.cpu.hostCommands / hosts).toFixed(2)} CPU s per host in the hosts' commands, ${(result.wallMs / 1000).toFixed(1)} s`);
      }
    }
    const [a, b] = [median(perHost.floor), median(perHost["checked floor"])];
    log(`MEDIANS ${hosts} host(s), ${rounds} rounds: floor ${a.toFixed(2)}, checked floor ${b.toFixed(2)} CPU s per host (${(b / a).toFixed(2)}x the floor)`);
  } finally {
    await sandboxDown();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run as a script; imported (by its unit test), it only provides checkedFloorScript.
if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
