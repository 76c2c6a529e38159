#!/bin/bash
# Runs one systemd-booted sandbox node until it powers off; a reboot inside (nspawn exits 133)
# boots it again. Started by sandbox/index.ts as
#   unshare --mount --propagation private -- node-run.sh
# so the overlay and the cgroup2 mount below exist only in this process's mount namespace and
# go away with it.
# Environment: PHS_NODE (name), PHS_CGROUP (this node's cgroup, e.g. ns-pve1), PHS_NETNS,
#   PHS_BASE (the release's root file system, read-only lower layer), PHS_NODEDIR (upper/,
#   work/, root/ of the overlay), PHS_PVE_SHARED (optional: the cluster's /etc/pve).
set -euo pipefail
: "${PHS_NODE:?}" "${PHS_CGROUP:?}" "${PHS_NETNS:?}" "${PHS_BASE:?}" "${PHS_NODEDIR:?}"

# The machine's cgroups are a v1/v2 hybrid and its PID 1 is not systemd: a pure cgroup v2 view
# (as on Debian 13) and a cgroup of its own per node, or nodes kill each other's units.
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mkdir -p "/sys/fs/cgroup/$PHS_CGROUP"
echo $$ > "/sys/fs/cgroup/$PHS_CGROUP/cgroup.procs"

# Netns mounts copied from the machine would keep other sandboxes' namespaces alive: keep only
# this node's, open, and drop the rest.
exec 3<"/run/netns/$PHS_NETNS"
if mountpoint -q /run/netns; then umount -R -l /run/netns; fi

root=$PHS_NODEDIR/root
mkdir -p "$PHS_NODEDIR/upper" "$PHS_NODEDIR/work" "$root"
mount -t overlay "$PHS_CGROUP" -o "lowerdir=$PHS_BASE,upperdir=$PHS_NODEDIR/upper,workdir=$PHS_NODEDIR/work" "$root"

binds=()
if [ -n "${PHS_PVE_SHARED:-}" ]; then
  # As pmxcfs shows it: one /etc/pve for the cluster, local = this node's directory.
  binds=(--bind="$PHS_PVE_SHARED:/etc/pve" --bind="$PHS_PVE_SHARED/nodes/$PHS_NODE:/etc/pve/local")
fi

for boot in $(seq 1000); do
  echo "BOOT $boot"
  rc=0
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 \
    systemd-nspawn --quiet --boot --directory="$root" --machine="$PHS_CGROUP" --hostname="$PHS_NODE" \
      --register=no --keep-unit --network-namespace-path="/proc/$$/fd/3" \
      --capability=CAP_NET_ADMIN --resolv-conf=off --timezone=off --link-journal=no \
      --console=read-only "${binds[@]}" </dev/null || rc=$?
  echo "EXIT $rc"
  # 133: `systemctl reboot` inside; anything else (poweroff, a kill) ends the node.
  [ "$rc" = 133 ] || exit "$rc"
done
