/** The host lock's file: every script that changes the host holds it open, locked, until it exits. */
export const HOST_LOCK_PATH = "/run/lock/proxmox-hardening.lock";

/**
 * Serialises every change on a host, across resources, processes and even two
 * stacks at once: ufw and fail2ban files are shared state. flock is in
 * util-linux, present on every Proxmox VE host.
 */
export function underHostLock(script: string, waitSeconds = 240): string {
  return [
    // A test before the mkdir: every change runs this, and /run/lock is nearly always there.
    "[ -d /run/lock ] || mkdir -p /run/lock",
    `exec 9>${HOST_LOCK_PATH}`,
    `flock -w ${waitSeconds} 9 || { echo 'another proxmox-hardening run holds ${HOST_LOCK_PATH}' >&2; exit 75; }`,
    script,
  ].join("\n");
}
