import assert from "node:assert/strict";
import { test } from "node:test";
import { addr4, addr6, overlaps4, overlaps6, V4_CANDIDATES, V6_CANDIDATES } from "../../sandbox/addresses";
import { pickNetwork } from "../../sandbox/network";

test("addresses of the plan: the n-th address of a sandbox network", () => {
  assert.equal(addr4("198.51.100.128/26", 11), "198.51.100.139");
  assert.equal(addr4("192.0.2.0/26", 1), "192.0.2.1");
  assert.equal(addr6("2001:db8:ff::/64", 11), "2001:db8:ff::11");
});

test("overlap of two networks, at the shorter of their prefixes (IPv6 with :: in any place)", () => {
  const cases: Array<[(a: string, b: string) => boolean, string, string, boolean]> = [
    [overlaps4, "192.0.2.0/26", "192.0.2.5/32", true],
    [overlaps4, "192.0.2.0/26", "192.0.2.64/26", false],
    [overlaps4, "192.0.2.64/26", "192.0.2.0/24", true],
    [overlaps4, "198.51.100.0/26", "10.0.0.0/8", false],
    [overlaps4, "198.51.100.0/26", "0.0.0.0/0", true],
    [overlaps4, "203.0.113.7", "203.0.113.7", true],
    [overlaps6, "2001:db8:ff::/64", "2001:db8:ff::1/128", true],
    [overlaps6, "2001:db8:ff::/64", "2001:db8:fe::/64", false],
    [overlaps6, "2001:db8:ff::/64", "2001:db8::/32", true],
    [overlaps6, "2001:db8:ff::/64", "::/0", true],
    [overlaps6, "2001:db8:ff:0:1::/80", "2001:db8:ff::1:0:0:0/80", true],
  ];
  for (const [overlaps, a, b, expected] of cases) assert.equal(overlaps(a, b), expected, `${a} ~ ${b}`);
});

test("network choice: the first candidates that overlap nothing in use, the machine first in each", () => {
  assert.deepEqual(pickNetwork({ v4: [], v6: [] }), { ipv4: "192.0.2.0/26", ipv6: "2001:db8:ff::/64", machineAddress: "192.0.2.1", machineAddress6: "2001:db8:ff::1" });
  // The machine's uplink in 192.0.2.0/24 and a registry resolving to 198.51.100.70: the next free quarter.
  const chosen = pickNetwork({ v4: ["192.0.2.10/24", "198.51.100.70/32"], v6: ["2001:db8:ff::5/128", "2001:db8:fe::/64"] });
  assert.equal(chosen.ipv4, "198.51.100.0/26");
  assert.equal(chosen.ipv6, "2001:db8:fd::/64");
  assert.deepEqual(pickNetwork({ v4: ["198.51.100.5/32"], v6: [] }, { ipv4: "198.51.100.0/26", ipv6: "2001:db8:1::/64" }).ipv4, "198.51.100.0/26");
});

test("network choice fails clearly when nothing is free or an override does not fit the plan", () => {
  assert.throws(() => pickNetwork({ v4: ["0.0.0.0/0"], v6: [] }), /no free sandbox network among 192\.0\.2\.0\/26, .* \(in use: 0\.0\.0\.0\/0\)/);
  assert.throws(() => pickNetwork({ v4: [], v6: V6_CANDIDATES }), /no free sandbox network among 2001:db8:ff::\/64/);
  assert.throws(() => pickNetwork({ v4: [], v6: [] }, { ipv4: "198.51.100.32/27" }), /must be a \/26 \(or larger\) aligned to 64: 198\.51\.100\.32\/27/);
  assert.throws(() => pickNetwork({ v4: [], v6: [] }, { ipv6: "2001:db8:ff::1/64" }), /must be a \/64 ending in ::: 2001:db8:ff::1\/64/);
  assert.equal(V4_CANDIDATES.length, 12);
});
