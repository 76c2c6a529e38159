/**
 * Namespace hosts: a network namespace plus mount, PID, UTS, IPC and cgroup namespaces on the
 * machine's own files, whose init (host-init.sh) runs the Debian daemons.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { addr4, addr6 } from "./addresses";
import type { Mode, Release, SandboxHost } from "./inventory";
import { fingerprint } from "./keys";
import { CLIENT_KEY_PATH, HOST_BIN, HOST_INIT, HOST_PATH, HOSTS_DIR, INIT_NAME, PREFIX } from "./layout";
import { plugIn } from "./namespaces";
import { SandboxNetwork, tcpOpen } from "./network";
import { must, waitFor } from "./process";

export async function startHost(name: string, index: number, mode: Mode, netw: SandboxNetwork, authKey: string): Promise<SandboxHost> {
  const netns = `${PREFIX}${name}`;
  const address = addr4(netw.ipv4, 10 + index);
  const address6 = addr6(netw.ipv6, 10 + index);
  const dir = path.join(HOSTS_DIR, name);
  fs.mkdirSync(path.join(dir, "rw"), { recursive: true, mode: 0o700 });
  const keyPath = path.join(dir, "ssh_host_ed25519_key");
  await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", keyPath]);
  const password = crypto.randomBytes(12).toString("base64url");
  fs.writeFileSync(path.join(dir, "ops-password"), password, { mode: 0o600 });
  // Everything the host's init reads goes into its own dir, which it binds to /mnt: the
  // repository may sit under /tmp, /root or /home, which the host covers with its own tmpfs.
  fs.cpSync(HOST_BIN, path.join(dir, "bin"), { recursive: true });
  fs.copyFileSync(authKey, path.join(dir, "authorized_key"));

  await plugIn(netns, `h-${name}`, address, address6);

  const logPath = path.join(dir, "init.log");
  const logFd = fs.openSync(logPath, "w");
  const child = spawn(
    "nsenter",
    [`--net=/run/netns/${netns}`, "--", "unshare", "--mount", "--uts", "--ipc", "--pid", "--cgroup", "--fork",
      "--mount-proc", "--propagation", "private", "--", HOST_INIT],
    {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: {
        PATH: HOST_PATH,
        LANG: "C.UTF-8",
        PHS_NAME: name,
        PHS_INIT_NAME: INIT_NAME,
        PHS_MODE: mode,
        PHS_HOSTDIR: dir,
        PHS_ADDR: address,
      },
    },
  );
  fs.closeSync(logFd);
  child.unref();
  const unsharePid = child.pid;
  if (!unsharePid) throw new Error(`${name}: could not start nsenter`);

  const pid = await waitFor(`${name} init process`, 10_000, () => {
    try {
      const kids = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
      return kids ? Number(kids.split(/\s+/)[0]) : undefined;
    } catch {
      throw new Error(`${name}: host exited at once; see ${logPath}:\n${fs.readFileSync(logPath, "utf8")}`);
    }
  });
  await waitFor(`${name} to boot (see ${logPath})`, 90_000, () => {
    const text = fs.readFileSync(logPath, "utf8");
    if (/^FAILED/m.test(text)) throw new Error(`${name} failed to boot:\n${text}`);
    if (/^READY$/m.test(text)) return true;
    if (!fs.existsSync(`/proc/${pid}`)) throw new Error(`${name} init died:\n${text}`);
    return undefined;
  });
  if (!(await tcpOpen(address, 22, 5_000))) throw new Error(`${name}: sshd does not answer on ${address}:22`);

  const pub = fs.readFileSync(`${keyPath}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  return {
    name,
    address,
    address6,
    sshPort: 22,
    user: "root",
    privateKeyPath: CLIENT_KEY_PATH,
    hostPublicKey: pub,
    hostKeyFingerprint: fingerprint(pub),
    sudoUser: { name: "ops", password },
    mode,
    netns,
    pid,
    kind: "namespace",
    release: machineRelease(),
  };
}

/** The machine's Debian codename: a namespace host runs the machine's packages. */
function machineRelease(): Release {
  const codename = /^VERSION_CODENAME=(\w+)/m.exec(fs.readFileSync("/etc/os-release", "utf8"))?.[1];
  if (codename !== "bookworm" && codename !== "trixie") throw new Error(`the machine is Debian ${codename ?? "?"}, not bookworm or trixie`);
  return codename;
}
