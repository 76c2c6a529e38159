/**
 * Serialises every change on a host, across resources, processes and even two
 * stacks at once: ufw and fail2ban files are shared state. flock is in
 * util-linux, present on every Proxmox VE host.
 */
export function underHostLock(script: string, waitSeconds = 240): string {
  return [
    "mkdir -p /run/lock",
    "exec 9>/run/lock/proxmox-hardening.lock",
    `flock -w ${waitSeconds} 9 || { echo 'another proxmox-hardening run holds /run/lock/proxmox-hardening.lock' >&2; exit 75; }`,
    script,
  ].join("\n");
}
