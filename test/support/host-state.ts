import { hostExec, SandboxHost } from "../../sandbox";

// What a user would look at on a host, gathered in one command: every file
// under the directories the program may touch (content hash, mode, owner),
// ufw's own view and the Proxmox firewall options.

const WATCHED_DIRS = ["/etc/ufw", "/etc/default/ufw", "/etc/fail2ban", "/etc/pve"];

export interface HostState {
  files: Record<string, string>;
  ufwStatus: string;
  pveshOptions: Record<string, unknown>;
}

export async function run(host: SandboxHost, command: string): Promise<string> {
  const result = await hostExec(host, command, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${host.name}: ${command} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

export async function hostState(host: SandboxHost): Promise<HostState> {
  // pipefail: a find or stat that fails fails the probe instead of leaving files out on both sides.
  const listing = await run(host, `set -o pipefail; find ${WATCHED_DIRS.join(" ")} -type f -exec stat -c '%n %a %U:%G' {} \\; -exec sha256sum {} \\; | paste - - | awk '{print $1, $2, $3, $4}' | sort`);
  const files = Object.fromEntries(listing.trim().split("\n").filter(Boolean).map((line) => {
    const [path, ...rest] = line.split(" ");
    return [path, rest.join(" ")];
  }));
  const ufwStatus = await run(host, "ufw status verbose");
  const pveshOptions = JSON.parse(await run(host, "pvesh get /cluster/firewall/options --output-format json"));
  return { files, ufwStatus, pveshOptions };
}
