import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Inventory } from "../sandbox";
import { cpuMeter, CpuSnapshot } from "./cpu";
import { hostInits, sshdLogins } from "./hosts";
import { runProcess } from "./util";

// The floor's runner: bench/floor.sh over one OpenSSH session per host, all
// hosts at once. One connection and one remote command per host.

export const FLOOR_SCRIPT = join(__dirname, "floor.sh");

export function opensshArgs(knownHosts: string, privateKeyPath: string): string[] {
  return [
    "-F", "/dev/null",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "ControlMaster=no",
    "-o", "ConnectTimeout=10",
    "-i", privateKeyPath,
  ];
}

export interface FloorResult {
  wallMs: number;
  connections: number;
  commands: number;
  sshdLogins: number;
  perHostMs: number[];
  cpu: CpuSnapshot;
}

/** `script` (default: bench/floor.sh) over one OpenSSH session per host, all hosts at once. */
export async function runFloor(inventory: Inventory, knownHosts: string, script = readFileSync(FLOOR_SCRIPT, "utf8")): Promise<FloorResult> {
  const loginsBefore = await sshdLogins(inventory);
  const cpuSince = cpuMeter(hostInits(inventory));
  const t0 = performance.now();
  const results = await Promise.all(
    inventory.hosts.map((host) =>
      runProcess("ssh", [...opensshArgs(knownHosts, host.privateKeyPath), "-p", String(host.sshPort), `${host.user}@${host.address}`, "sh -s"], {
        input: script,
        timeoutMs: 300_000,
      }),
    ),
  );
  const wallMs = performance.now() - t0;
  const cpu = cpuSince();
  results.forEach((result, i) => {
    if (result.code !== 0) throw new Error(`floor on ${inventory.hosts[i].name} exited ${result.code}: ${result.stderr.slice(-1500)}`);
  });
  const logins = (await sshdLogins(inventory)) - loginsBefore;
  const n = inventory.hosts.length;
  return { wallMs, connections: n, commands: n, sshdLogins: logins, perHostMs: results.map((r) => r.ms), cpu };
}
