import { HardenedHost, hostPreflight } from "./host/component";
import { readProgramConfig } from "./host/config";
import { clusterManagers } from "./host/schema";
import { skipMappingPromiseStacks } from "./core/promise-stacks";

// The program (index.ts loads it). Hardens every host listed in the stack config (Pulumi.<stack>.yaml). The
// config is validated before any resource is declared, so a mistake fails
// `pulumi preview` with a message naming the host and the key, and no host is
// contacted. See README.md for the keys.
// V8's own formatter, where none is installed, is cheap enough as it is.
if (Error.prepareStackTrace) Error.prepareStackTrace = skipMappingPromiseStacks(Error.prepareStackTrace);
const config = readProgramConfig();

const managers = clusterManagers(config.hosts);
// Each host's preflight reads the node before any change; the cluster's firewall option, set
// through one node for all, waits for every member's.
const preflights = config.hosts.map((host) => hostPreflight(host, config));
const hosts = config.hosts.map((host, i) => {
  const cluster = [...managers.entries()].find(([, manager]) => manager === host)?.[0];
  const members = preflights.filter((_, j) => cluster !== undefined && (config.hosts[j].cluster ?? config.hosts[j].name) === cluster);
  return new HardenedHost(host.name, { host, config, managesCluster: cluster, preflights: { host: preflights[i], cluster: members } });
});

/** Per host: address, ufw policy and rule count, fail2ban jails, Proxmox firewall. */
export const summary = Object.fromEntries(hosts.map((hardened, i) => [config.hosts[i].name, hardened.summary]));
