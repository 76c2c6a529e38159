import { z } from "zod";
import { canonicalHostKey } from "./hostkey";

const hostName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, "a host name: letters, digits and '-', at most 63 characters")
  .describe("Short name of the host, used in resource names and messages (e.g. pve1).");

const address = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, "an IPv4 or IPv6 address or a DNS name")
  .describe("Address the program connects to over SSH.");

/** Pinned host key: the key line of /etc/ssh/ssh_host_*_key.pub or its SHA256 fingerprint. */
export const hostKeySchema = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? "hostKey is missing: pin the host's SSH key (`cat /etc/ssh/ssh_host_ed25519_key.pub` on its console) so that no command runs on an impostor"
        : "hostKey must be a string: the host's public key line or its SHA256 fingerprint",
  })
  .transform((text, ctx) => {
    const pinned = canonicalHostKey(text);
    if (pinned === undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          "the host's public key line (`ssh-ed25519 AAAA... root@pve1`, as /etc/ssh/ssh_host_ed25519_key.pub or `ssh-keyscan -t ed25519 <address>` print it) or its fingerprint (`SHA256:...`, from `ssh-keygen -lf`)",
      });
      return z.NEVER;
    }
    return pinned;
  })
  .describe("The host's SSH public key line (its comment, and the address ssh-keyscan prints first, are ignored) or SHA256 fingerprint; connections presenting any other key are refused before a command runs.");

/** Everything needed to reach one host; holds no secret (those come from configure). */
export const hostConnectionSchema = z
  .strictObject({
    name: hostName,
    address,
    port: z.number().int().min(1).max(65535).default(22).describe("SSH port."),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a Linux user name")
      .default("root")
      .describe("SSH user; a user other than root runs commands through sudo."),
    hostKey: hostKeySchema,
    connectTimeoutSeconds: z.number().int().min(1).max(300).default(15).describe("Time allowed to open the SSH connection."),
    commandTimeoutSeconds: z.number().int().min(5).max(3600).default(300).describe("Time allowed for one remote step."),
  })
  .describe("How to reach a host over SSH.");

export type HostConnection = z.output<typeof hostConnectionSchema>;

/** Secrets for one host, from the stack's secret config; never stored in resource state. */
export const credentialsSchema = z.strictObject({
  privateKey: z.string().optional().describe("OpenSSH or PEM private key (set with `pulumi config set --secret`)."),
  privateKeyPath: z.string().optional().describe("Path of a private key file on the machine running Pulumi."),
  passphrase: z.string().optional().describe("Passphrase of the private key."),
  password: z.string().optional().describe("SSH password."),
  sudoPassword: z.string().optional().describe("Password sudo asks for, when the user is not root."),
  agent: z.boolean().optional().describe("Use the SSH agent at $SSH_AUTH_SOCK."),
});

export type Credentials = z.output<typeof credentialsSchema>;

/** `<project>/<stack>` of the program that declares a resource; every resource carries it. */
export const ownerSchema = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/, "<project>/<stack>, as the program passes it")
  .describe("The Pulumi project and stack that manage the resource: their records of the node's previous state are kept apart from other stacks'.");

/** Inputs every resource carries: where the host is, how to name it in messages, and whose records it keeps. */
export const commonInputs = {
  connection: hostConnectionSchema,
  label: z.string().describe("Resource name used in messages."),
  owner: ownerSchema,
};
