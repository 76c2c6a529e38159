import { createHash } from "node:crypto";

// Host key pinning: config holds either the key line as printed by
// `ssh-keyscan`/`cat /etc/ssh/ssh_host_ed25519_key.pub` ("ssh-ed25519 AAAA...")
// or its fingerprint as printed by `ssh-keygen -lf` ("SHA256:...").

export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key blob of a key line, or undefined if it is not of that form. */
export function keyBlobOf(keyLine: string): Buffer | undefined {
  const fields = keyLine.trim().split(/\s+/);
  if (fields.length < 2) return undefined;
  const blob = Buffer.from(fields[1], "base64");
  return blob.length > 0 ? blob : undefined;
}

/** Does the key the server presented match the pinned key or fingerprint? */
export function hostKeyMatches(pinned: string, presented: Buffer): boolean {
  const trimmed = pinned.trim();
  if (trimmed.startsWith("SHA256:")) return fingerprintOf(presented) === trimmed.replace(/=+$/, "");
  const blob = keyBlobOf(trimmed);
  return blob !== undefined && blob.equals(presented);
}
