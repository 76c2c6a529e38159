import { HardenedHost } from "./providers/host/component";
import { readProgramConfig } from "./providers/host/config";
import { clusterManagers } from "./providers/host/schema";

// Hardens every host listed in the stack config (Pulumi.<stack>.yaml). The
// config is validated before any resource is declared, so a mistake fails
// `pulumi preview` with a message naming the host and the key, and no host is
// contacted. See README.md for the keys.
const config = readProgramConfig();

const managers = clusterManagers(config.hosts);
const hosts = config.hosts.map((host) => {
  const cluster = [...managers.entries()].find(([, manager]) => manager === host)?.[0];
  return new HardenedHost(host.name, { host, config, managesCluster: cluster });
});

/** Per host: address, ufw policy and rule count, fail2ban jails, Proxmox firewall. */
export const summary = Object.fromEntries(hosts.map((hardened, i) => [config.hosts[i].name, hardened.summary]));
