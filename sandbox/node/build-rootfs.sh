#!/bin/bash
# Builds (once) the root file system of a systemd-booted sandbox node from Debian's archive and
# prints its directory. Cached under $PHS_ROOTFS_CACHE (default /var/cache/proxmox-hardening-sandbox)
# by release, variant and a hash of the recipe (packages and hooks), so a changed recipe builds anew.
#   build-rootfs.sh RELEASE(bookworm|trixie) VARIANT(journald|syslog)
# journald: as a default Proxmox VE install logs (journal only); syslog: rsyslog too, for the
# file-log path. Per-node files (host key, machine-id, stand-ins) are not here: the node's
# overlay gets them at start, so one base serves every node of a release.
set -euo pipefail
release=${1:?release} variant=${2:?variant}
case "$release" in bookworm|trixie) ;; *) echo "unknown release $release" >&2; exit 2;; esac
case "$variant" in journald|syslog) ;; *) echo "unknown variant $variant" >&2; exit 2;; esac

# What a Proxmox VE node has of what the program touches, plus what tests use inside.
pkgs=systemd,systemd-sysv,dbus,libpam-systemd,openssh-server,ufw,fail2ban,python3-systemd,iptables,nftables
pkgs+=,sudo,iproute2,procps,psmisc,perl,netcat-openbsd,less
if [ "$variant" = syslog ]; then pkgs+=,rsyslog; fi
# Host keys and machine-id are made per node; ops is the sudo user the tests log in as
# (its password is set per node).
hooks=(
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*'
  --customize-hook='truncate -s0 "$1"/etc/machine-id; rm -f "$1"/var/lib/dbus/machine-id'
  --customize-hook='chroot "$1" useradd -m -s /bin/bash -G sudo ops'
  --customize-hook='echo "LANG=C.UTF-8" > "$1"/etc/default/locale'
)

cache=${PHS_ROOTFS_CACHE:-/var/cache/proxmox-hardening-sandbox}/rootfs
hash=$(printf '%s\n' "$release" "$variant" "$pkgs" "${hooks[@]}" | sha256sum | cut -c1-12)
out="$cache/$release-$variant-$hash"
if [ -e "$out/.complete" ]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
# One builder per output at a time (mkdir is atomic); a second caller waits for the first.
lock="$out.lock"
for _ in $(seq 1200); do mkdir "$lock" 2>/dev/null && break; sleep 1; done
[ -d "$lock" ] || { echo "could not take $lock" >&2; exit 1; }
# A half-built tree is removed only when mmdebstrap left nothing mounted in it.
trap 'grep -q " $out.tmp/" /proc/self/mountinfo || rm -rf "$out.tmp"; rm -rf "$lock"' EXIT
if [ -e "$out/.complete" ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp"

mirror=http://deb.debian.org/debian
mmdebstrap --quiet --variant=minbase --include="$pkgs" "${hooks[@]}" "$release" "$out.tmp" \
  "deb $mirror $release main" "deb $mirror $release-updates main" \
  "deb http://deb.debian.org/debian-security $release-security main" >&2
touch "$out.tmp/.complete"
mv "$out.tmp" "$out"
echo "$out"
