import { z } from "zod";
import { Credentials, credentialsSchema } from "./schema";
import { setCredentials } from "./transport";

// Credentials live only in the stack's secret config. The dynamic providers
// read them in their configure step, so they are never resource inputs,
// never in state and never captured in serialized provider code.

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
  const perHost = rawPerHost ? perHostSchema.parse(JSON.parse(rawPerHost)) : {};
  const all = [shared, ...Object.values(perHost)];
  const secrets = all.flatMap((c) => [c.privateKey, c.passphrase, c.password, c.sudoPassword]).filter((s): s is string => !!s);
  return { lookup: (host) => ({ ...shared, ...perHost[host] }), secrets };
}

/** The configure step every provider shares. */
export function configureCredentials(config: ConfigSource): void {
  const { lookup, secrets } = credentialsFromConfig(config);
  setCredentials(lookup, secrets);
}
