/**
 * The sandbox: disposable Proxmox-VE-like hosts on this machine.
 *
 * Each host is a network namespace (phs-<name>) plus its own mount, PID, UTS, IPC and
 * cgroup namespaces, running Debian's openssh-server, rsyslog or systemd-journald,
 * fail2ban, ufw and a `pvesh` stand-in; a node is a systemd-booted Debian under
 * systemd-nspawn. Hosts hang off a bridge in the hub namespace (phs-hub); the machine
 * reaches them through the veth phs-m0.
 *
 * This is the public entry used by the tests, scripts/ and bench/; each concern has a
 * module of its own beside it (lifecycle, hosts, nodes, clients, exec, ssh, network, ...).
 * See sandbox/README.md for what is modelled and what is not.
 */
export { cgroup2Root } from "./cgroups";
export { addClient, clientExec } from "./clients";
export type { SandboxClient } from "./clients";
export { hostExec, hostPid, writePvedaemonFailure } from "./exec";
export { readInventory } from "./inventory";
export type { Inventory, Mode, Release, SandboxHost } from "./inventory";
export { INVENTORY_PATH, PREFIX, SANDBOX_DIR } from "./layout";
export { down, up } from "./lifecycle";
export { assertSandboxAddress, tcpProbe } from "./network";
export { reboot } from "./nodes";
export type { NodeSpec } from "./nodes";
export { sshExec } from "./ssh";
