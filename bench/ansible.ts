import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Inventory } from "../sandbox";
import { cpuMeter, CpuSnapshot } from "./cpu";
import { hostInits, sshdLogins } from "./hosts";
import { mustRun, runProcess } from "./util";

// Ansible from Debian's packages, on the same fresh hosts: bench/ansible/
// playbook.yml, first run and no-op re-run, forks = host count.
//
// Counting: connections are the logins sshd accepted (each host's auth.log),
// so Ansible's ControlMaster multiplexing counts as it really is; commands are
// the ssh and sftp processes Ansible started (wrappers bench/ansible/
// ssh-count.sh and sftp-count.sh), each one remote command or file transfer.

const DIR = join(__dirname, "ansible");

export interface AnsibleResult {
  wallMs: number;
  connections: number;
  commands: number;
  /** Of the commands: sftp file transfers. */
  transfers: number;
  changed: number;
  recap: string;
  cpu: CpuSnapshot;
}

export async function ansibleVersions(): Promise<{ ansible: string; core: string } | undefined> {
  const core = await runProcess("ansible", ["--version"]).catch(() => undefined);
  if (!core || core.code !== 0) return undefined;
  const dpkg = await runProcess("dpkg-query", ["-W", "-f=${Version}", "ansible"]);
  return { ansible: dpkg.stdout.trim(), core: /ansible \[core ([^\]]+)\]/.exec(core.stdout)?.[1] ?? "?" };
}

/** Installs Debian's ansible (with community.general) when it is missing. */
export async function ensureAnsible(log: (line: string) => void): Promise<void> {
  if (await ansibleVersions()) return;
  log("ansible missing: apt-get install ansible (Debian's full package, which includes community.general)");
  await mustRun("apt-get", ["-q", "-y", "install", "--no-install-recommends", "ansible"], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeoutMs: 900_000,
  });
}

export class AnsibleRunner {
  private readonly work: string;
  private readonly inventoryFile: string;

  constructor(private readonly inventory: Inventory, knownHosts: string) {
    this.work = mkdtempSync("/tmp/pbn-ansible-");
    this.inventoryFile = join(this.work, "inventory.json");
    const first = inventory.hosts[0];
    // The yaml inventory plugin reads JSON too.
    const ansibleInventory = {
      all: {
        vars: {
          ansible_user: "root",
          ansible_ssh_private_key_file: first.privateKeyPath,
          ansible_ssh_common_args: `-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes`,
        },
        hosts: Object.fromEntries(inventory.hosts.map((host) => [host.name, { ansible_host: host.address, ansible_port: host.sshPort }])),
      },
    };
    writeFileSync(this.inventoryFile, JSON.stringify(ansibleInventory, null, 2));
  }

  /** One ansible-playbook run, starting with no SSH master alive. */
  async run(label: string): Promise<AnsibleResult> {
    const controlDir = mkdtempSync(join(this.work, "cp-"));
    const countFile = join(this.work, `count-${label}`);
    writeFileSync(countFile, "");
    const loginsBefore = await sshdLogins(this.inventory);
    const cpuSince = cpuMeter(hostInits(this.inventory));
    const result = await runProcess("ansible-playbook", ["-i", this.inventoryFile, "-f", String(this.inventory.hosts.length), join(DIR, "playbook.yml")], {
      cwd: DIR,
      env: {
        ...process.env,
        ANSIBLE_CONFIG: join(DIR, "ansible.cfg"),
        ANSIBLE_SSH_EXECUTABLE: join(DIR, "ssh-count.sh"),
        ANSIBLE_SFTP_EXECUTABLE: join(DIR, "sftp-count.sh"),
        ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
        ANSIBLE_LOCAL_TEMP: join(this.work, "tmp"),
        PBN_ANSIBLE_COUNT: countFile,
      },
      timeoutMs: 900_000,
    });
    writeFileSync(join(this.work, `output-${label}.log`), result.stdout + result.stderr);
    await this.closeMasters(controlDir);
    // After the masters ended: their sessions' side in the hosts is reaped by then.
    const cpu = cpuSince();
    const recapLines = result.stdout.split("\n").filter((line) => /^\S+\s+:\s+ok=\d+/.test(line));
    const sum = (key: string) => recapLines.reduce((total, line) => total + Number(new RegExp(`\\b${key}=(\\d+)`).exec(line)?.[1] ?? 0), 0);
    if (result.code !== 0 || sum("failed") > 0 || sum("unreachable") > 0 || recapLines.length !== this.inventory.hosts.length) {
      throw new Error(`ansible-playbook (${label}) exited ${result.code}:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-2000)}`);
    }
    const counted = readFileSync(countFile, "utf8").split("\n").filter(Boolean);
    const logins = (await sshdLogins(this.inventory)) - loginsBefore;
    return {
      wallMs: result.ms,
      connections: logins,
      commands: counted.length,
      transfers: counted.filter((kind) => kind === "sftp").length,
      changed: sum("changed"),
      recap: recapLines.map((line) => line.replace(/\s+/g, " ")).join("\n"),
      cpu,
    };
  }

  /** Ends the ControlPersist masters of a run, so that the next run starts cold. */
  private async closeMasters(controlDir: string): Promise<void> {
    if (!existsSync(controlDir)) return;
    for (const socket of readdirSync(controlDir)) {
      await runProcess("ssh", ["-F", "/dev/null", "-o", `ControlPath=${join(controlDir, socket)}`, "-O", "exit", "pbn-master"], { timeoutMs: 10_000 });
    }
  }

  dispose(): void {
    rmSync(this.work, { recursive: true, force: true });
  }
}
