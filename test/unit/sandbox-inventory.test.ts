import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { getHost, Inventory, readInventory, SandboxHost, writeInventory } from "../../sandbox/inventory";
import { fingerprint } from "../../sandbox/keys";

const host = (n: number): SandboxHost => ({
  name: `pve${n}`, address: `198.51.100.${10 + n}`, address6: `2001:db8:ff::${10 + n}`, sshPort: 22, user: "root", privateKeyPath: "/k",
  hostPublicKey: "ssh-ed25519 AAAA", hostKeyFingerprint: "SHA256:x", sudoUser: { name: "ops", password: "p" }, mode: "syslog",
  netns: `phs-pve${n}`, pid: 100 + n, kind: n === 2 ? "node" : "namespace", release: "bookworm",
});
const inventory: Inventory = {
  network: { ipv4: "198.51.100.0/26", ipv6: "2001:db8:ff::/64", machineAddress: "198.51.100.1", machineAddress6: "2001:db8:ff::1" },
  hosts: [host(1), host(2)],
};

test("the inventory reads back as written, and a missing one says how to start the sandbox", () => {
  const dir = mkdtempSync(join(tmpdir(), "phs-inventory-"));
  try {
    const file = join(dir, "inventory.json");
    assert.throws(() => readInventory(file), new RegExp(`no sandbox inventory at ${file}: run 'npm run sandbox -- up N'`));
    writeInventory(inventory, file);
    assert.deepEqual(readInventory(file), inventory);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a host of the inventory by name or 0-based index", () => {
  assert.equal(getHost("pve2", inventory).kind, "node");
  assert.equal(getHost(0, inventory).name, "pve1");
  assert.throws(() => getHost("pve3", inventory), /no sandbox host pve3/);
  assert.throws(() => getHost(2, inventory), /no sandbox host 2/);
});

test("a host key's fingerprint is the one ssh-keygen -l prints", () => {
  // ssh-keygen -l of this key: 256 SHA256:UKMY92feiaIbchh00KRHSC/IhTAAaOQ1OT1kEI6OIdo no comment (ED25519)
  assert.equal(fingerprint("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKf4BOFf6y8E4LcgENSsuIZhG5EYRnTABl2iconb+8X/"), "SHA256:UKMY92feiaIbchh00KRHSC/IhTAAaOQ1OT1kEI6OIdo");
});
