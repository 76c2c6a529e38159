import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clientExec, SandboxClient } from "./clients";
import { hostExec } from "./exec";
import type { SandboxHost } from "./inventory";
import { assertSandboxAddress } from "./network";
import { commandLine, shellQuote } from "../providers/ssh/quote";

// Attacks on sandbox hosts, made from client namespaces, for the attack tests
// and the demo. Every probe checks first that the address is routed into the
// sandbox; every attempt and every wait is bounded in time.

export type Reach = "open" | "refused" | "timeout";

/**
 * One TCP connection attempt from a client namespace (nc, bounded): "open", "refused" (RST or
 * ICMP port unreachable, as fail2ban's REJECT sends) or "timeout" (dropped, as ufw's deny does).
 */
export async function clientProbe(client: SandboxClient, address: string, port: number, waitSeconds = 2): Promise<Reach> {
  await assertSandboxAddress(address);
  const family = address.includes(":") ? "-6" : "-4";
  const r = await clientExec(client, `nc ${family} -v -z -w ${waitSeconds} ${shellQuote(address)} ${port}`, { timeoutMs: (waitSeconds + 8) * 1000 });
  if (r.code === 0) return "open";
  if (/Connection refused/i.test(r.stderr)) return "refused";
  if (/timed out/i.test(r.stderr) || r.signal) return "timeout";
  throw new Error(`nc from ${client.name} to [${address}]:${port}: unexpected result (exit ${r.code}): ${r.stderr.trim()}`);
}

/**
 * A banned client is refused (fail2ban's REJECT answers with ICMP port unreachable) or, when the
 * kernel's per-address ICMP rate limit (1/s, burst 6) was used up by packets of its earlier
 * connections that the new ban also rejects, gets no answer: either way it does not get in.
 */
export const isBlocked = (reach: Reach): boolean => reach === "refused" || reach === "timeout";

let askpassScript: string | undefined;

/** An SSH_ASKPASS program that answers every password prompt with a wrong password. */
function wrongPasswordAskpass(): string {
  if (!askpassScript) {
    const dir = mkdtempSync(join(tmpdir(), "phs-attack-"));
    askpassScript = join(dir, "askpass");
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(askpassScript, "#!/bin/sh\necho 'not-the-password'\n");
    chmodSync(askpassScript, 0o700);
  }
  return askpassScript;
}

export type LoginAttempt = "denied" | "refused" | "timeout";

/**
 * One password login with a wrong password from a client namespace, with the machine's OpenSSH
 * client (no config, no keys, one password prompt): sshd logs "Failed password for USER from
 * ADDR". "denied" when the server rejected the password, "refused"/"timeout" when no SSH
 * session came up (e.g. the client is banned). Bounded to 20 s.
 */
export async function failedSshLogin(client: SandboxClient, host: SandboxHost, user = "root", ipv6 = false): Promise<LoginAttempt> {
  const address = ipv6 ? host.address6 : host.address;
  await assertSandboxAddress(address);
  const options = [
    "BatchMode=no",
    "PubkeyAuthentication=no",
    "PreferredAuthentications=password",
    "NumberOfPasswordPrompts=1",
    "StrictHostKeyChecking=no",
    "UserKnownHostsFile=/dev/null",
    "LogLevel=ERROR",
    "ConnectTimeout=5",
  ].flatMap((o) => ["-o", o]);
  const command = [
    "env",
    `SSH_ASKPASS=${wrongPasswordAskpass()}`,
    "SSH_ASKPASS_REQUIRE=force",
    "timeout", "15",
    "ssh", "-F", "/dev/null", ...options, "-p", String(host.sshPort), `${user}@${address}`, "true",
  ];
  const r = await clientExec(client, `${commandLine(command)} </dev/null`, { timeoutMs: 20_000 });
  if (/Permission denied/.test(r.stderr)) return "denied";
  if (/Connection refused/i.test(r.stderr)) return "refused";
  if (/timed out/i.test(r.stderr) || r.code === 124 || r.signal) return "timeout";
  throw new Error(`ssh from ${client.name} to ${user}@${address}: unexpected result (exit ${r.code}): ${r.stderr.trim()}`);
}

/** `count` wrong-password logins at once (as a brute-force tool does); the result of each. */
export function bruteForceSsh(client: SandboxClient, host: SandboxHost, count = 3, user = "root"): Promise<LoginAttempt[]> {
  return Promise.all(Array.from({ length: count }, () => failedSshLogin(client, host, user)));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `intervalMs` until it returns true, at most `timeoutMs`; false on timeout. */
export async function pollUntil(timeoutMs: number, probe: () => Promise<boolean>, intervalMs = 250): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() + intervalMs > end) return false;
    await sleep(intervalMs);
  }
}

/** Runs a command as root in the host; throws unless it exits 0. */
export async function hostRun(host: SandboxHost, command: string, timeoutMs = 30_000): Promise<string> {
  const r = await hostExec(host, command, { timeoutMs });
  if (r.code !== 0) throw new Error(`${host.name}: ${command} exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The addresses `fail2ban-client status <jail>` lists as banned. */
export async function bannedIps(host: SandboxHost, jail: string): Promise<string[]> {
  const status = await hostRun(host, `fail2ban-client status ${shellQuote(jail)}`);
  const line = /Banned IP list:\s*(.*)$/m.exec(status);
  if (!line) throw new Error(`${host.name}: no "Banned IP list" in fail2ban-client status ${jail}:\n${status}`);
  return line[1].split(/\s+/).filter(Boolean);
}

/**
 * Whether the jail lists `address` as banned and its ban is in the host's firewall: fail2ban lists
 * a ban a moment before its action has run.
 */
export async function banInEffect(host: SandboxHost, jail: string, address: string): Promise<boolean> {
  return (await bannedIps(host, jail)).includes(address) && (await banRuleInPlace(host, jail, address));
}

/**
 * Whether neither the jail lists `address` nor its ban is left in the firewall: fail2ban drops a
 * ban from its list a moment before its action has removed it.
 */
export async function banLifted(host: SandboxHost, jail: string, address: string): Promise<boolean> {
  return !(await bannedIps(host, jail)).includes(address) && !(await banRuleInPlace(host, jail, address));
}

/**
 * Whether the ban of `address` is in the host's firewall, for either kind of ban action: the
 * iptables ones (fail2ban's default, Debian 12) put a REJECT rule in the chain f2b-<jail>; the
 * nftables ones (Debian 13's default) the address in the set addr-set-<jail> (addr6-set-<jail>)
 * of table inet f2b-table, which a rule rejects.
 */
async function banRuleInPlace(host: SandboxHost, jail: string, address: string): Promise<boolean> {
  const v6 = address.includes(":");
  const iptables = await hostExec(host, `${v6 ? "ip6tables" : "iptables"} -w -S ${shellQuote(`f2b-${jail}`)}`, { timeoutMs: 10_000 });
  if (iptables.code === 0 && iptables.stdout.includes(`-s ${address}/${v6 ? 128 : 32} -j REJECT`)) return true;
  const nft = await hostExec(host, `command -v nft >/dev/null && nft list set inet f2b-table ${shellQuote(`addr${v6 ? "6" : ""}-set-${jail}`)}`, { timeoutMs: 10_000 });
  const elements = /elements = \{([^}]*)\}/.exec(nft.stdout)?.[1] ?? "";
  return nft.code === 0 && elements.split(/[\s,]+/).includes(address);
}

/** Waits (bounded) until the ban of `address` is in effect (see banInEffect); true when it is. */
export function waitForBan(host: SandboxHost, jail: string, address: string, timeoutMs = 30_000): Promise<boolean> {
  return pollUntil(timeoutMs, () => banInEffect(host, jail, address));
}

/**
 * One failed web-UI login (POST /api2/json/access/ticket with a wrong password) from a client
 * namespace to a node's pveproxy stand-in on 8006, over IPv4 or IPv6: pvedaemon logs it with the
 * client's address as rhost (an IPv4 client as ::ffff:a.b.c.d, as the real daemon does). The
 * HTTP status, 0 when no answer came (e.g. banned); bounded to 15 s.
 */
export async function failedWebLogin(client: SandboxClient, host: SandboxHost, ipv6 = false, user = "root@pam"): Promise<number> {
  const address = ipv6 ? host.address6 : host.address;
  await assertSandboxAddress(address);
  const url = `https://${ipv6 ? `[${address}]` : address}:8006/api2/json/access/ticket`;
  const command = ["curl", "-k", "-g", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
    "--data-urlencode", `username=${user}`, "--data-urlencode", "password=not-the-password", url];
  const r = await clientExec(client, commandLine(command), { timeoutMs: 15_000 });
  return Number(r.stdout.trim() || 0);
}

/**
 * A TCP listener inside the host, for ports no stand-in serves (e.g. spiceproxy's 3128): python's http.server
 * on all addresses (IPv4 and IPv6), ended by `timeout` after `lifetimeSeconds` at the latest.
 */
export async function startListener(host: SandboxHost, port: number, lifetimeSeconds = 900): Promise<void> {
  await hostRun(host, `setsid timeout ${lifetimeSeconds} python3 -m http.server --bind :: ${port} >/dev/null 2>&1 </dev/null &`);
  const listening = await pollUntil(10_000, async () => (await hostExec(host, `ss -Hltn 'sport = :${port}' | grep -q LISTEN`)).code === 0);
  if (!listening) throw new Error(`${host.name}: nothing listens on ${port} 10 s after starting the listener`);
}
