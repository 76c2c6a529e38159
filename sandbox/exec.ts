/** Running commands inside a host or node as root (nsenter), and what its processes are. */
import * as fs from "node:fs";
import * as path from "node:path";
import { shellQuote } from "../providers/ssh/quote";
import { resolveHost, SandboxHost } from "./inventory";
import { HOST_LIB, HOST_PATH, INIT_NAME } from "./layout";
import { netnsInitPid } from "./namespaces";
import { BASH_C, ExecOptions, ExecResult, run } from "./process";

/** PID of the running init of this host (checks that the inventory's PID still is it). */
export function hostPid(host: SandboxHost | string): number {
  const h = resolveHost(host);
  if (h.kind === "node") {
    const pid = netnsInitPid(h.netns);
    if (pid === undefined) throw new Error(`sandbox node ${h.name} is not running`);
    return pid;
  }
  const ok = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith(`${INIT_NAME} ${h.name}\0`);
    } catch {
      return false;
    }
  };
  if (ok(h.pid)) return h.pid;
  for (const e of fs.readdirSync("/proc")) if (/^\d+$/.test(e) && ok(Number(e))) return Number(e);
  throw new Error(`sandbox host ${h.name} is not running`);
}

/** Runs `command` with /bin/bash as root inside the host's namespaces. */
export async function hostExec(host: SandboxHost | string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const h = resolveHost(host);
  const pid = hostPid(h);
  // A node's root is its own file system: enter it (-r) and its / (-w: systemd's cwd; nsenter
  // resolves the target's cwd relative to ours, hence cwd "/").
  const dirs = h.kind === "node" ? ["-r", "-w"] : ["--wd=/"];
  return run(
    "nsenter",
    ["-t", String(pid), "-m", "-u", "-i", "-n", "-p", "-C", ...dirs, "--", ...BASH_C, command],
    {
      ...opts,
      cwd: "/",
      env: { PATH: HOST_PATH, HOME: "/root", USER: "root", LOGNAME: "root", SHELL: "/bin/bash", LANG: "C.UTF-8", TERM: "dumb" },
    },
  );
}

/**
 * Logs a genuine-format pvedaemon web-UI login failure in the host
 * ("pvedaemon[PID]: authentication failure; rhost=ADDR user=USER msg=MSG") via syslog:
 * /var/log/syslog in syslog mode, the journal (SYSLOG_IDENTIFIER=pvedaemon) in journald
 * mode. rhost may be IPv4, IPv6 or IPv4-mapped IPv6 (::ffff:a.b.c.d).
 */
export async function writePvedaemonFailure(
  host: SandboxHost | string,
  rhost: string,
  user = "root@pam",
  msg = "Authentication failure",
): Promise<void> {
  // The script goes in on stdin: the repository may not be visible inside the host.
  const helper = fs.readFileSync(path.join(HOST_LIB, "pvedaemon-authfail.pl"), "utf8");
  const r = await hostExec(host, `/usr/bin/perl - ${[rhost, user, msg].map(shellQuote).join(" ")}`, {
    input: helper,
    timeoutMs: 10_000,
  });
  if (r.code !== 0) throw new Error(`writing the pvedaemon line failed: ${r.stderr}`);
}

/** Processes and summed resident memory of one host. */
export function hostMemory(host: SandboxHost | string): { processes: number; rssKiB: number; commands: string[] } {
  const pid = hostPid(host);
  const pidns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  let processes = 0;
  let rssKiB = 0;
  const commands: string[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/pid`) !== pidns) continue;
      const status = fs.readFileSync(`/proc/${e}/status`, "utf8");
      const rss = /VmRSS:\s+(\d+)/.exec(status);
      processes++;
      rssKiB += rss ? Number(rss[1]) : 0;
      commands.push(fs.readFileSync(`/proc/${e}/comm`, "utf8").trim());
    } catch {
      /* gone */
    }
  }
  return { processes, rssKiB, commands };
}
