import { Client } from "ssh2";
import { fingerprintOf, hostKeyMatches, keyTypeOf, pinnedKeyAlgorithms } from "./hostkey";
import { HostConnection } from "./schema";

// Who answers at a host's address, by its SSH host key alone: one attempt,
// bounded, that stops at the key exchange (the verifier always declines), so
// no credential is offered and nothing runs on whatever answers.

export type ProbeOutcome =
  | { kind: "same"; fingerprint: string }
  | { kind: "other-key"; fingerprint: string; keyLine: string }
  | { kind: "no-answer"; reason: string };

export function probeHostKey(conn: Pick<HostConnection, "address" | "port" | "user" | "hostKey">, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const client = new Client();
    let presented: { blob: Buffer; type: string } | undefined;
    const finish = (reason: string) => {
      clearTimeout(timer);
      client.removeAllListeners();
      client.on("error", () => undefined); // late socket errors after end()
      client.end();
      if (!presented) return resolve({ kind: "no-answer", reason });
      if (hostKeyMatches(conn.hostKey, presented.blob)) return resolve({ kind: "same", fingerprint: fingerprintOf(presented.blob) });
      resolve({ kind: "other-key", fingerprint: fingerprintOf(presented.blob), keyLine: `${presented.type} ${presented.blob.toString("base64")}` });
    };
    // ssh2's readyTimeout does not cover a TCP connect that hangs on a dropped SYN everywhere: our own bound.
    const timer = setTimeout(() => finish(`no SSH answer within ${timeoutMs / 1000} s`), timeoutMs);
    client.once("error", (error) => finish(error.message));
    client.once("close", () => finish("connection closed before the key exchange"));
    client.connect({
      host: conn.address,
      port: conn.port,
      username: conn.user,
      readyTimeout: timeoutMs,
      ...pinnedKeyAlgorithms(conn.hostKey),
      hostVerifier: (key: Buffer) => {
        presented = { blob: key, type: keyTypeOf(key) };
        return false;
      },
    });
  });
}
