/** Client namespaces: other machines on the sandbox network (an attacker, a bystander) with the machine's files. */
import * as fs from "node:fs";
import { addr4, addr6, FIRST_CLIENT, LAST_CLIENT } from "./addresses";
import { readInventory } from "./inventory";
import { CLIENTS_PATH, HOST_PATH, PREFIX } from "./layout";
import { listNetns, plugIn } from "./namespaces";
import { BASH_C, ExecOptions, ExecResult, run } from "./process";

export interface SandboxClient {
  name: string;
  netns: string;
  address: string;
  address6: string;
}

function readClients(): Record<string, SandboxClient> {
  try {
    return JSON.parse(fs.readFileSync(CLIENTS_PATH, "utf8")) as Record<string, SandboxClient>;
  } catch {
    return {};
  }
}

/** One at a time: each call picks the first free address from clients.json and writes it back. */
let clientQueue: Promise<unknown> = Promise.resolve();

/**
 * A client namespace (phs-c-<name>) with its own address on the sandbox network, e.g.
 * an attacker. Idempotent: returns the existing client of that name.
 */
export function addClient(name: string): Promise<SandboxClient> {
  const added = clientQueue.then(() => addClientNow(name));
  clientQueue = added.catch(() => undefined);
  return added;
}

async function addClientNow(name: string): Promise<SandboxClient> {
  if (!/^[a-z0-9]{1,12}$/.test(name)) throw new Error(`client name must be 1-12 of [a-z0-9]: ${name}`);
  const inv = readInventory();
  const clients = readClients();
  if (clients[name] && (await listNetns()).includes(clients[name].netns)) return clients[name];
  const used = new Set(Object.values(clients).map((c) => c.address));
  let n = FIRST_CLIENT;
  while (used.has(addr4(inv.network.ipv4, n))) n++;
  if (n > LAST_CLIENT) throw new Error(`too many clients (at most ${LAST_CLIENT - FIRST_CLIENT + 1})`);
  const client: SandboxClient = {
    name,
    netns: `${PREFIX}c-${name}`,
    address: addr4(inv.network.ipv4, n),
    address6: addr6(inv.network.ipv6, n),
  };
  await plugIn(client.netns, `c-${name}`, client.address, client.address6);
  clients[name] = client;
  fs.writeFileSync(CLIENTS_PATH, JSON.stringify(clients, null, 2) + "\n");
  return client;
}

/** Runs `command` with /bin/bash inside the client's network namespace (the machine's files). */
export async function clientExec(client: SandboxClient | string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const c = typeof client === "string" ? readClients()[client] : client;
  if (!c) throw new Error(`no sandbox client ${String(client)}`);
  return run("nsenter", [`--net=/run/netns/${c.netns}`, "--", ...BASH_C, command], {
    ...opts,
    env: { PATH: HOST_PATH, HOME: "/root", LANG: "C.UTF-8" },
  });
}
