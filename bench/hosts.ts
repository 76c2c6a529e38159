import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type * as SandboxModule from "../sandbox";
import type { Inventory, SandboxHost } from "../sandbox";

// Fresh sandbox hosts for each tool, and what the benchmark reads on them
// (through nsenter, never over SSH, so it does not count as the tools' work).

// eslint-disable-next-line @typescript-eslint/no-require-imports
let sandbox: typeof SandboxModule = require("../sandbox");

/** Uses the sandbox code of the measured tree (a snapshot stays the same while others edit sandbox/). */
export function useSandboxOf(root: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sandbox = require(join(root, "sandbox", "index.ts"));
}

export const sandboxDown = () => sandbox.down();

/** Each host's init process, the root of everything that runs in the host (for bench/cpu.ts). */
export const hostInits = (inventory: Inventory): number[] => inventory.hosts.map((host) => sandbox.hostPid(host));
const hostExec: typeof SandboxModule.hostExec = (...args) => sandbox.hostExec(...args);

/** Starts `count` fresh syslog-style hosts (the sandbox removes the previous ones first). */
export async function freshHosts(count: number): Promise<Inventory> {
  const inventory = await sandbox.up({ count, modes: Array(count).fill("syslog"), installDeps: true });
  // Traffic only into the sandbox: refuse to go on if an address is not routed there.
  for (const host of inventory.hosts) await sandbox.assertSandboxAddress(host.address);
  return inventory;
}

/** An OpenSSH known_hosts file pinning every host's key, for the floor and Ansible. */
export function writeKnownHosts(inventory: Inventory, file: string): void {
  writeFileSync(file, inventory.hosts.map((host) => `${host.address} ${host.hostPublicKey}\n`).join(""));
}

async function inHost(host: SandboxHost, command: string): Promise<string> {
  const result = await hostExec(host, command, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${host.name}: ${command} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/**
 * SSH logins sshd accepted so far, summed over the hosts (from each host's
 * /var/log/auth.log, written by the host's rsyslog): the tool-independent count
 * of SSH connections, whatever client made them.
 */
export async function sshdLogins(inventory: Inventory): Promise<number> {
  const counts = await Promise.all(inventory.hosts.map((host) => inHost(host, "grep -c 'sshd\\[[0-9]*\\]: Accepted ' /var/log/auth.log || true")));
  return counts.reduce((sum, text) => sum + Number(text.trim() || 0), 0);
}

/**
 * What the hardening left on a host, to check that the three tools reach the
 * same end state: ufw's view, the Proxmox option, the fail2ban files and jails.
 */
export async function endState(host: SandboxHost): Promise<string> {
  return inHost(
    host,
    [
      "ufw status verbose",
      "pvesh get /cluster/firewall/options --output-format json; echo",
      "cd /etc/fail2ban && sha256sum filter.d/proxmox.conf jail.d/proxmox-hardening-*.local",
      "fail2ban-client status | grep 'Jail list'",
    ].join("; "),
  );
}

/** Whether the hosts are as the sandbox starts them (ufw inactive, none of our files). */
export async function isFresh(host: SandboxHost): Promise<boolean> {
  const out = await inHost(host, "ufw status; ls /etc/fail2ban/jail.d/ /etc/fail2ban/filter.d/ | grep -c 'proxmox' || true");
  return /Status: inactive/.test(out) && /^0$/m.test(out.trim().split("\n").pop() ?? "");
}

/** USER_HZ: the unit of /proc/<pid>/stat CPU times, 100 on every Linux the sandbox runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Profiling hook: every `sh -c SCRIPT` that arrives over SSH as root (how the
 * providers run every remote step) is timed inside the host, with bash's
 * $EPOCHREALTIME (no extra process), and logged to /run/pbn-cmdlog. sshd runs
 * commands through root's bash, which reads ~/.bashrc when started by sshd.
 * Only for the profile pass; the timed runs use untouched hosts.
 */
export const PROFILE_HOOK = String.raw`
if [ -n "$SSH_CONNECTION" ]; then
sh() {
  local start=$EPOCHREALTIME rc stat
  command sh "$@"
  rc=$?
  # CPU the script used: this shell's waited-for children (cutime + cstime, clock ticks), read without a fork.
  read -ra stat < /proc/$$/stat
  # One write per line: scripts run concurrently on a host, and O_APPEND keeps single writes whole.
  local line="$start $EPOCHREALTIME $rc $(( stat[15] + stat[16] )) $(printf '%s' "$2" | base64 -w0)"
  printf '%s\n' "$line" >> /run/pbn-cmdlog
  return $rc
}
fi
`;

export async function installProfileHook(host: SandboxHost): Promise<void> {
  await hostExec(host, `cat > /root/.bashrc; : > /run/pbn-cmdlog`, { input: PROFILE_HOOK });
}

export interface HostCommand {
  host: string;
  start: number;
  end: number;
  code: number;
  /** CPU ms of the script and everything it ran (absent in logs of older hooks). */
  cpuMs?: number;
  script: string;
}

/** The commands the hook logged (and clears the log). Times in ms since the epoch. */
export async function takeProfileLog(host: SandboxHost): Promise<HostCommand[]> {
  const text = await inHost(host, "cat /run/pbn-cmdlog; : > /run/pbn-cmdlog");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [start, end, code, ticks, script] = line.split(" ");
      const cpuMs = Number(ticks) * (1000 / CLOCK_TICKS_PER_SECOND);
      return { host: host.name, start: Number(start) * 1000, end: Number(end) * 1000, code: Number(code), cpuMs, script: Buffer.from(script ?? "", "base64").toString() };
    })
    .filter((command) => Number.isFinite(command.start) && Number.isFinite(command.end));
}
