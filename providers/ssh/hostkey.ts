import { createHash } from "node:crypto";
import type { ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";

// Host key pinning: config holds either the key line as printed by
// `ssh-keyscan`/`cat /etc/ssh/ssh_host_ed25519_key.pub` ("ssh-ed25519 AAAA...")
// or its fingerprint as printed by `ssh-keygen -lf` ("SHA256:...").

const KEY_LINE = /^(?:\S+[ \t]+)?((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))[ \t]+[A-Za-z0-9+/]+={0,3})(?:[ \t]+.*)?$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/**
 * The pinned form of a key as users copy it: `type key` without the comment a
 * .pub file ends with (`root@pve1`) or the address ssh-keyscan puts first, so
 * that neither counts as a change of the pin; a fingerprint as it is. Undefined
 * for anything else, a second line included.
 */
export function canonicalHostKey(text: string): string | undefined {
  const trimmed = text.trim();
  if (FINGERPRINT.test(trimmed)) return trimmed;
  return KEY_LINE.exec(trimmed)?.[1].replace(/[ \t]+/, " ");
}

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

/** The key type a key blob names (its first SSH string), e.g. "ssh-ed25519". */
export function keyTypeOf(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return length > 0 && 4 + length <= blob.length ? blob.subarray(4, 4 + length).toString("latin1") : "unknown";
}

/**
 * ssh2's host key algorithms to ask for, so that the host presents the pinned key: a host offers
 * each of its keys, and ssh2 asks for ed25519 first, so a pinned ECDSA or RSA key line would
 * never be presented. Nothing for a fingerprint, whose type is not known (the host then
 * presents the key ssh2 prefers: ed25519 on Proxmox VE and Debian).
 */
export function pinnedKeyAlgorithms(pinned: string): Pick<ConnectConfig, "algorithms"> {
  const type = pinned.trim().split(/\s+/)[0];
  const serverHostKey = type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : type === "ssh-ed25519" || type.startsWith("ecdsa-sha2-") ? [type] : undefined;
  return serverHostKey ? { algorithms: { serverHostKey: serverHostKey as ServerHostKeyAlgorithm[] } } : {};
}
