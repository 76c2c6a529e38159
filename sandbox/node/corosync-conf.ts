/** corosync.conf as `pvecm create` / `pvecm add` leave it on a Proxmox VE cluster. */
export interface ClusterMember {
  name: string;
  /** corosync's node id, 1-based in the order the nodes joined. */
  nodeid: number;
  ring0Addr: string;
}

export function renderCorosyncConf(clusterName: string, members: ClusterMember[]): string {
  const nodes = members
    .map((m) => `  node {\n    name: ${m.name}\n    nodeid: ${m.nodeid}\n    quorum_votes: 1\n    ring0_addr: ${m.ring0Addr}\n  }\n`)
    .join("");
  return (
    `logging {\n  debug: off\n  to_syslog: yes\n}\n\n` +
    `nodelist {\n${nodes}}\n\n` +
    `quorum {\n  provider: corosync_votequorum\n}\n\n` +
    `totem {\n  cluster_name: ${clusterName}\n  config_version: ${members.length}\n  interface {\n    linknumber: 0\n  }\n` +
    `  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n`
  );
}
