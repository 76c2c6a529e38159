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

/**
 * The two probes of every file under the watched directories, in path order: `path mode owner:group`
 * and sha256sum's lines. Run with pipefail: a find, stat or sha256sum that fails (xargs exits
 * non-zero) fails the probe instead of leaving files out on both sides.
 */
export const FILE_PROBES = [
  `find ${WATCHED_DIRS.join(" ")} -type f -print0 | sort -z | xargs -0 -r stat -c '%n %a %U:%G'`,
  `find ${WATCHED_DIRS.join(" ")} -type f -print0 | sort -z | xargs -0 -r sha256sum`,
] as const;

/** The file map (path -> "mode owner:group sha256") from FILE_PROBES' outputs. */
export function fileMap(stats: string, sums: string): Record<string, string> {
  const sumOf = new Map(sums.split("\n").filter(Boolean).map((line) => [line.slice(line.indexOf("  ") + 2), line.slice(0, line.indexOf("  "))]));
  return Object.fromEntries(
    stats
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [path, mode, owner] = line.split(" ");
        return [path, `${mode} ${owner} ${sumOf.get(path)}`];
      }),
  );
}

export async function hostState(host: SandboxHost): Promise<HostState> {
  const [stats, sums] = await Promise.all(FILE_PROBES.map((probe) => run(host, `set -o pipefail; ${probe}`)));
  const files = fileMap(stats, sums);
  const ufwStatus = await run(host, "ufw status verbose");
  const pveshOptions = JSON.parse(await run(host, "pvesh get /cluster/firewall/options --output-format json"));
  return { files, ufwStatus, pveshOptions };
}

/**
 * What any write on a host leaves behind, to prove that a run changed nothing
 * independently of what the program reports: inode, size and times of every
 * file and directory the program may touch (a rewrite with the same bytes, a
 * temp file created and removed, a chmod all show), ufw's rules as added and
 * as loaded, the firewall options, fail2ban's server process and log (a reload
 * or restart writes there), and netfilter's packet counters (rebuilding a
 * chain, as a ufw or fail2ban reload does, starts them again from zero).
 */
export interface WriteTraces {
  stamps: string;
  ufwAdded: string;
  ufwStatus: string;
  pveshOptions: string;
  fail2banServer: string;
  fail2banJails: string;
  fail2banLog: string;
  /** "table rule #n" -> packets, for iptables and ip6tables. */
  counters: Record<string, number>;
}

export async function writeTraces(host: SandboxHost): Promise<WriteTraces> {
  const counters: Record<string, number> = {};
  for (const save of ["iptables-save -c", "ip6tables-save -c"]) {
    let table = "";
    for (const line of (await run(host, save)).split("\n")) {
      if (line.startsWith("*")) table = `${save.split("-")[0]} ${line.slice(1)}`;
      const rule = /^\[(\d+):\d+\] (.*)$/.exec(line);
      if (!rule) continue;
      let key = `${table} ${rule[2]}`;
      for (let n = 2; key in counters; n++) key = `${table} ${rule[2]} #${n}`;
      counters[key] = Number(rule[1]);
    }
  }
  return {
    stamps: await run(host, `find ${WATCHED_DIRS.join(" ")} -printf '%p %y %i %m %U:%G %s %T@ %C@\\n' | sort`),
    ufwAdded: await run(host, "ufw show added"),
    ufwStatus: await run(host, "ufw status verbose"),
    pveshOptions: await run(host, "pvesh get /cluster/firewall/options --output-format json"),
    fail2banServer: await run(host, "ps -eo pid=,lstart=,args= | grep '[f]ail2ban-server'"),
    fail2banJails: await run(host, "fail2ban-client status"),
    fail2banLog: await run(host, "sha256sum /var/log/fail2ban.log"),
    counters,
  };
}

/** Differences between two traces of a host, in words; empty when nothing was written. Counters may only grow. */
export function writesBetween(before: WriteTraces, after: WriteTraces): string[] {
  const found: string[] = [];
  for (const key of Object.keys(before) as (keyof WriteTraces)[]) {
    if (key !== "counters" && before[key] !== after[key]) found.push(`${key}:\n--- before\n${before[key]}\n+++ after\n${after[key]}`);
  }
  const rules = new Set([...Object.keys(before.counters), ...Object.keys(after.counters)]);
  for (const rule of rules) {
    if (!(rule in after.counters) || !(rule in before.counters)) found.push(`netfilter rule ${rule in before.counters ? "gone" : "new"}: ${rule}`);
    else if (after.counters[rule] < before.counters[rule]) found.push(`netfilter counter went back from ${before.counters[rule]} to ${after.counters[rule]} (chain rebuilt): ${rule}`);
  }
  return found;
}

/**
 * What the host logged for these programs (syslog identifiers, e.g. sudo): auth.log where rsyslog
 * writes one, else the journal (a default Proxmox VE install); the messages, one a line.
 */
export async function authLog(host: SandboxHost, identifiers: string[]): Promise<string[]> {
  if (host.mode === "syslog") {
    const ours = new RegExp(` (${identifiers.join("|")})(\\[\\d+\\])?: `);
    return (await run(host, "cat /var/log/auth.log")).split("\n").filter((line) => ours.test(line));
  }
  return (await run(host, `journalctl --no-pager -q -o cat ${identifiers.map((id) => `-t ${id}`).join(" ")}`)).split("\n").filter(Boolean);
}

/** sshd's syslog identifiers: its sessions log as sshd-session from OpenSSH 9.8 (Debian 13), as sshd before. */
export const SSHD_IDENTIFIERS = ["sshd", "sshd-session"];

/** SSH logins the host's own sshd logged (auth.log or the journal): what the host saw, not what the program says it did. */
export async function sshLogins(host: SandboxHost): Promise<number> {
  return (await authLog(host, SSHD_IDENTIFIERS)).filter((line) => /\bAccepted (publickey|password) for /.test(line)).length;
}
