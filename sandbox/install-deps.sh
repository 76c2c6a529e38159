#!/bin/bash
# Installs the Debian packages the sandbox needs (idempotent; a no-op when all are present).
# Services must not start on the machine: a temporary policy-rc.d forbids it (an existing
# one is left as it is), and afterwards we check that none of the daemons runs outside
# a sandbox host.
#
# --dry-run [PACKAGE...]: print the packages that would be installed, one per line, and change
# nothing; extra PACKAGE names are checked too (the tests pass one that is certainly absent, so
# the missing-package branch runs on every machine).
set -euo pipefail

PKGS=(openssh-server openssh-client ufw fail2ban rsyslog iptables nftables python3-systemd
      python3-yaml sudo iproute2 procps psmisc util-linux systemd netcat-openbsd
      mmdebstrap systemd-container openssl)   # the last three: systemd-booted nodes

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
  dry_run=1
  shift
  PKGS+=("$@")
fi

missing=()
# dpkg-query exits 1 when any name is not installed (or unknown); its output still lists the
# installed ones, which is all we read, so its status is not ours to fail on.
installed=" $(dpkg-query -W -f='${db:Status-Abbrev}${Package} ' "${PKGS[@]}" 2>/dev/null | tr -s ' ' | sed 's/ii /ii:/g' || true) "
for p in "${PKGS[@]}"; do
  [[ "$installed" == *" ii:$p "* ]] || missing+=("$p")
done
if [ "$dry_run" = 1 ]; then
  if [ ${#missing[@]} -gt 0 ]; then printf '%s\n' "${missing[@]}"; fi
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "sandbox: installing ${missing[*]}" >&2

export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary: proxmox-hardening sandbox install-deps.sh\nexit 101\n' > "$POLICY"
  chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

install() { apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"; }
# apt-get update only when the lists are missing or the install cannot find a package.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then apt-get update -q; fi
if ! install; then apt-get update -q; install; fi

# Nothing may have been started on the machine by a postinst.
# A daemon on the machine is one in the mount namespace of this script.
root_mnt=$(readlink /proc/$$/ns/mnt)
for d in sshd fail2ban-server rsyslogd systemd-journald; do
  for pid in $(pgrep -x "$d" 2>/dev/null; pgrep -f "^/usr/bin/python3 /usr/bin/$d" 2>/dev/null); do
    if [ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" = "$root_mnt" ]; then
      echo "sandbox: WARNING: $d (pid $pid) was started on the machine by a package script; stopping it" >&2
      kill "$pid" 2>/dev/null || true
    fi
  done
done
exit 0
