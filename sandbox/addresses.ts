/** The sandbox's address plan and the address math it needs (pure). */

function ipv4ToInt(a: string): number {
  return a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function ipv6ToBig(a: string): bigint {
  const [head, tail] = a.includes("::") ? a.split("::") : [a, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || "0", 16)), 0n);
}

export function overlaps4(aNet: string, bNet: string): boolean {
  const [a, al] = aNet.split("/");
  const [b, bl] = bNet.split("/");
  const len = Math.min(Number(al ?? 32), Number(bl ?? 32));
  if (len === 0) return true;
  const mask = len === 32 ? 0xffffffff : (~((1 << (32 - len)) - 1)) >>> 0;
  return ((ipv4ToInt(a) & mask) >>> 0) === ((ipv4ToInt(b) & mask) >>> 0);
}

export function overlaps6(aNet: string, bNet: string): boolean {
  const [a, al] = aNet.split("/");
  const [b, bl] = bNet.split("/");
  const len = BigInt(Math.min(Number(al ?? 128), Number(bl ?? 128)));
  if (len === 0n) return true;
  const shift = 128n - len;
  return ipv6ToBig(a) >> shift === ipv6ToBig(b) >> shift;
}

// Quarters (/26) of the three documentation ranges, so that several sandboxes (PHS_PREFIX)
// can run side by side even where the machine's own uplink or its package mirror sits in one
// of them. In a quarter: the machine is .1, hosts .11 to .40, clients .41 to .62.
export const V4_CANDIDATES = ["192.0.2", "198.51.100", "203.0.113"].flatMap((net) => [0, 64, 128, 192].map((base) => `${net}.${base}/26`));
export const V6_CANDIDATES = Array.from({ length: 12 }, (_, i) => `2001:db8:${(0xff - i).toString(16)}::/64`);
export const MAX_HOSTS = 30;
export const FIRST_CLIENT = 41;
export const LAST_CLIENT = 62;

/** The n-th address of the network: 198.51.100.128/25 and 11 -> 198.51.100.139. */
export function addr4(network: string, n: number): string {
  const octets = network.split("/")[0].split(".");
  return `${octets.slice(0, 3).join(".")}.${Number(octets[3]) + n}`;
}

/** 2001:db8:ff::/64 and 11 -> 2001:db8:ff::11 (the decimal digits, as in the brief). */
export function addr6(network: string, n: number): string {
  return `${network.split("/")[0]}${n}`;
}
