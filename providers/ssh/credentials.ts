import { createHash } from "node:crypto";
import { z } from "zod";
import { Credentials, credentialsSchema } from "./schema";
import { HostSessions } from "./transport";

// Credentials live only in the stack's secret config. The dynamic providers
// read them in their configure step, so they are never inputs of our
// resources and never captured in serialized provider code. (The engine does
// record the config it gives the default Node.js provider, the whole stack
// config, as that provider's inputs in state: secrets stay ciphertext there.
// At -v=9 it prints that Configure call's values, secrets included.)

/** Stack config keys holding credentials, with what each means. */
export const credentialConfigKeys = {
  sshPrivateKey: "Private key for every host (secret: `pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519`).",
  sshPrivateKeyPath: "Path of a private key file on the machine running Pulumi, instead of sshPrivateKey.",
  sshKeyPassphrase: "Passphrase of the private key (secret).",
  sshPassword: "SSH password for every host (secret), when keys are not used.",
  sudoPassword: "Password sudo asks for when the SSH user is not root (secret).",
  sshAgent: "true to authenticate with the SSH agent at $SSH_AUTH_SOCK.",
  hostCredentials: "Per-host overrides (secret JSON object): {\"pve1\": {\"privateKey\": ..., \"password\": ..., \"sudoPassword\": ...}}.",
} as const;

const perHostSchema = z.record(z.string(), credentialsSchema);

interface ConfigSource {
  get(key: string): string | undefined;
}

/**
 * Parses hostCredentials. The value is secret, and both JSON.parse (Node 20
 * quotes the text it could not parse) and zod (which may echo inputs) would
 * put it into an error message, so errors name only the problem and the path.
 */
function parsePerHost(raw: string): z.output<typeof perHostSchema> {
  const hint = 'set it with `pulumi config set --secret hostCredentials \'{"pve1": {"password": "..."}}\'`';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`stack config hostCredentials is not valid JSON (its value is secret and not shown); ${hint}`);
  }
  const result = perHostSchema.safeParse(parsed);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = ["hostCredentials", ...issue.path.map(String)].join(".");
    return issue.code === "unrecognized_keys" ? `${path}: unknown field(s) ${issue.keys.join(", ")}` : `${path}: ${issue.code.replace(/_/g, " ")}`;
  });
  throw new Error(`stack config hostCredentials is invalid (values are secret and not shown): ${problems.join("; ")}; ${hint}`);
}

/** Pure: the credentials for each host from raw config values. */
export function credentialsFromConfig(config: ConfigSource): { lookup: (host: string) => Credentials; secrets: string[] } {
  const shared: Credentials = credentialsSchema.parse({
    privateKey: config.get("sshPrivateKey"),
    privateKeyPath: config.get("sshPrivateKeyPath"),
    passphrase: config.get("sshKeyPassphrase"),
    password: config.get("sshPassword"),
    sudoPassword: config.get("sudoPassword"),
    agent: config.get("sshAgent") === "true" ? true : undefined,
  });
  const rawPerHost = config.get("hostCredentials");
  const perHost = rawPerHost ? parsePerHost(rawPerHost) : {};
  const all = [shared, ...Object.values(perHost)];
  const secrets = all.flatMap((c) => [c.privateKey, c.passphrase, c.password, c.sudoPassword]).filter((s): s is string => !!s);
  return { lookup: (host) => ({ ...shared, ...perHost[host] }), secrets };
}

/** Sessions per set of credentials: the engine configures every resource kind with the same config. */
const sessionsByCredentials = new Map<string, HostSessions>();

/**
 * The SSH sessions for the stack's credentials, made in each provider's configure step. Every
 * resource kind is configured with the same config, so they get the same sessions, and so one
 * connection per host; the credentials stay inside them.
 */
export function hostSessionsFor(config: ConfigSource): HostSessions {
  // A digest, so that no second copy of the credentials is kept as a key.
  const key = createHash("sha256").update(JSON.stringify(Object.keys(credentialConfigKeys).map((name) => config.get(name) ?? null))).digest("hex");
  let sessions = sessionsByCredentials.get(key);
  if (!sessions) {
    const { lookup, secrets } = credentialsFromConfig(config);
    sessions = new HostSessions(lookup, secrets);
    sessionsByCredentials.set(key, sessions);
  }
  return sessions;
}
