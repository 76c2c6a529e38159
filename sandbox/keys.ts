/** SSH keys of the sandbox: the client key every host trusts, and host key fingerprints. */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { CLIENT_KEY_PATH, KEY_DIR } from "./layout";
import { must } from "./process";

/** Makes the client key on first use (kept across runs); returns its public key file. */
export async function ensureKeys(): Promise<string> {
  fs.mkdirSync(KEY_DIR, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(CLIENT_KEY_PATH)) {
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "proxmox-hardening-sandbox", "-f", CLIENT_KEY_PATH]);
  }
  return `${CLIENT_KEY_PATH}.pub`;
}

/** "SHA256:..." of a public key line, as ssh-keygen -l prints it. */
export function fingerprint(pubLine: string): string {
  return "SHA256:" + crypto.createHash("sha256").update(pubLine.split(/\s+/)[1], "base64").digest("base64").replace(/=+$/, "");
}
