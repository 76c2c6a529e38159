#!/bin/bash
# PID 1 of one sandbox host. Started by sandbox/index.ts as
#   nsenter --net=/run/netns/phs-NAME unshare --mount --uts --ipc --pid --cgroup --fork
#            --mount-proc --propagation private host-init.sh
# so every mount below exists only in this host's mount namespace.
# Environment: PHS_NAME PHS_MODE(syslog|journald) PHS_ADDR(the host's IPv4 address)
#              PHS_HOSTDIR(machine-side seeds: host key, ops-password, authorized_key,
#              bin/ to put over /usr/bin (pvesh), empty rw/); bound to /mnt first, since
#              the repository may sit under /tmp, /root or /home, which get a tmpfs here.
# Prints READY when booted (or FAILED: ...), then becomes a reaper as PID 1.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
umask 022
log() { echo "[$(date +%T.%3N)] $*"; }
fail() { echo "FAILED: $*"; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

: "${PHS_NAME:?}" "${PHS_MODE:?}" "${PHS_HOSTDIR:?}"
[ "$$" = 1 ] || fail "must run as PID 1 of a new PID namespace"
mount --bind "$PHS_HOSTDIR" /mnt
PHS_HOSTDIR=/mnt
PHS_HOSTBIN=/mnt/bin
PHS_AUTHKEY=/mnt/authorized_key

# ---- file systems ---------------------------------------------------------------------
# Netns bind mounts copied from the machine would keep those namespaces alive: drop them.
if mountpoint -q /run/netns 2>/dev/null; then umount -R -l /run/netns || true; fi

RW=$PHS_HOSTDIR/rw            # an empty dir on the machine; a tmpfs only in this host
mount -t tmpfs -o mode=700,size=512m phs-rw "$RW"
for d in etc var; do mkdir -p "$RW/$d/upper" "$RW/$d/work"; done
# Copy-on-write views of the machine's /etc and /var: this host's changes go to RAM,
# the machine's files are never written.
mount -t overlay phs-etc -o "lowerdir=/etc,upperdir=$RW/etc/upper,workdir=$RW/etc/work" /etc
mount -t overlay phs-var -o "lowerdir=/var,upperdir=$RW/var/upper,workdir=$RW/var/work" /var
# pvesh stand-in: a read-only overlay on /usr/bin whose top layer is a snapshot copy
# (editing the repository later does not change running hosts).
cp -a "$PHS_HOSTBIN" "$RW/bin"
mount -t overlay phs-bin -o "lowerdir=$RW/bin:/usr/bin" /usr/bin
mount -t tmpfs -o mode=755,nosuid,nodev,size=64m tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=700 tmpfs /root
mount -t tmpfs -o mode=755 tmpfs /home
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
# /proc/sys read-only except the per-network-namespace /proc/sys/net (ufw writes there).
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys
# Bridge netfilter is per network namespace. The machine has br_netfilter loaded (the sandbox's
# own bridge), which would show as "on" here; a Proxmox node whose firewall never ran has it
# off, so hosts start with it off (a test of the guests' network guard turns it on in its host).
for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
  if [ -w "$f" ]; then echo 0 > "$f"; fi
done
# A private /dev: a few device nodes, own devpts, own /dev/log.
mount -t tmpfs -o mode=755,nosuid,size=1m tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mkdir -m 755 /dev/pts; mkdir -m 1777 /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s pts/ptmx /dev/ptmx; ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
mkdir -p /run/lock /run/sshd /run/fail2ban /run/user /var/log
touch /run/utmp
log "mounts done"

# ---- identity ------------------------------------------------------------------------
hostname "$PHS_NAME"
echo "$PHS_NAME" > /etc/hostname
{ echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback"
  echo "$PHS_ADDR $PHS_NAME.sandbox.invalid $PHS_NAME"; } > /etc/hosts
echo "LANG=C.UTF-8" > /etc/default/locale   # a real PVE host has a UTF-8 locale too
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > /etc/machine-id; echo >> /etc/machine-id
# Fresh logs: nothing from the machine's /var/log.
find /var/log -mindepth 1 -maxdepth 1 -exec rm -rf {} +
mkdir -p /var/log/apt
touch /var/log/wtmp /var/log/btmp /var/log/lastlog; chmod 660 /var/log/btmp
# Fresh fail2ban / ufw state.
rm -rf /var/lib/fail2ban/*; mkdir -p /var/lib/fail2ban

# ---- users ---------------------------------------------------------------------------
useradd -m -s /bin/bash -G sudo ops
printf 'ops:%s\n' "$(cat "$PHS_HOSTDIR/ops-password")" | chpasswd
install -d -m 700 /root/.ssh
install -m 600 "$PHS_AUTHKEY" /root/.ssh/authorized_keys
log "users done"

# ---- Proxmox bits ----------------------------------------------------------------------
mkdir -p "/etc/pve/firewall" "/etc/pve/nodes/$PHS_NAME"
ln -s "nodes/$PHS_NAME" /etc/pve/local

# ---- logging -------------------------------------------------------------------------
if [ "$PHS_MODE" = journald ]; then
  # Like a default Proxmox VE 8 (Debian 12) install: journald only, no rsyslog.
  # journald needs a cgroup file system (read-only is enough; this host has its own
  # cgroup namespace) and binds its sockets itself when not socket-activated.
  mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
  mkdir -p /run/systemd/journal /var/log/journal
  ln -s /run/systemd/journal/dev-log /dev/log
  setsid /lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
  for _ in $(seq 100); do [ -S /run/systemd/journal/dev-log ] && break; sleep 0.05; done
  [ -S /run/systemd/journal/dev-log ] || fail "journald did not create its sockets"
  # Like systemd-journal-flush.service: move to persistent storage in /var/log/journal.
  journalctl --flush >/dev/null 2>&1 || log "journalctl --flush failed (journal stays in /run)"
else
  # Debian's rsyslog config, without imklog (the kernel log is the machine's).
  sed -i 's/^module(load="imklog")/#&  # sandbox: no kernel log in a host/' /etc/rsyslog.conf
  mkdir -p /var/spool/rsyslog
  rsyslogd
  for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
  [ -S /dev/log ] || fail "rsyslogd did not create /dev/log"
fi
log "logging ($PHS_MODE) up"

# ---- sshd ----------------------------------------------------------------------------
rm -f /etc/ssh/ssh_host_*
install -m 600 "$PHS_HOSTDIR/ssh_host_ed25519_key" /etc/ssh/
install -m 644 "$PHS_HOSTDIR/ssh_host_ed25519_key.pub" /etc/ssh/
printf '# sandbox: only the per-host ed25519 key\nHostKey /etc/ssh/ssh_host_ed25519_key\n' \
  > /etc/ssh/sshd_config.d/sandbox.conf
/usr/sbin/sshd
log "sshd up"

# ---- fail2ban: Debian starts it after install, with Debian's default config ----------
# (in journald mode this fails like on a default PVE 8: the sshd jail finds no auth.log)
if fail2ban-client -x start >/var/log/fail2ban-boot.txt 2>&1; then
  log "fail2ban started"
else
  log "fail2ban failed to start (as on the real system in this mode): $(tail -n 3 /var/log/fail2ban-boot.txt | tr '\n' ' ')"
fi
rm -f /var/log/fail2ban-boot.txt

# Become a minimal init: reap orphans forever; SIGTERM ends the host. READY comes from the
# init under its final name: the machine finds a host's PID by that name (sandbox/exec.ts), so
# a READY printed before the exec let a loaded machine's test look for it before perl named
# itself, and fail with "pve1 is not running" right after up().
exec -a "$PHS_INIT_NAME" /usr/bin/perl -e '$0 = "'"$PHS_INIT_NAME $PHS_NAME"'"; $| = 1; print "READY\n"; $SIG{TERM} = sub { exit 0 }; while (1) { my $p = wait(); sleep 1 if $p < 0 }'
