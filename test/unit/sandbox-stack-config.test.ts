import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { parseProgramConfig } from "../../providers/host/config";
import { sandboxStackConfig } from "../../sandbox/stack-config";

test("the generated sandbox stack config is a valid program config pinning each host's key", () => {
  const hostPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ";
  const host = (n: number) => ({ name: `pve${n}`, address: `198.51.100.${10 + n}`, address6: "", sshPort: 22, user: "root", privateKeyPath: "/k", hostPublicKey, hostKeyFingerprint: "", sudoUser: { name: "ops", password: "x" }, mode: "syslog" as const, netns: "", pid: 1, kind: "namespace" as const, release: "bookworm" as const });
  const yaml = parse(sandboxStackConfig({ network: { ipv4: "198.51.100.0/25", ipv6: "", machineAddress: "", machineAddress6: "" }, hosts: [host(1), host(2)] }));
  const config = parseProgramConfig({ hosts: yaml.config["proxmox-hardening:hosts"] }, "sandbox");
  assert.deepEqual(config.hosts.map((h) => [h.name, h.address, h.hostKey]), [["pve1", "198.51.100.11", hostPublicKey], ["pve2", "198.51.100.12", hostPublicKey]]);
  assert.equal(yaml.config["proxmox-hardening:sshPrivateKeyPath"], "/k");
});
