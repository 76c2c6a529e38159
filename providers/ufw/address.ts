// IP address handling for ufw rules: strict parsing, and the canonical text
// ufw stores in user.rules, so a rule's tuple can be predicted exactly.

export type AddressFamily = "v4" | "v6";

export interface ParsedAddress {
  family: AddressFamily;
  /** The form ufw writes into user.rules for this address or network. */
  canonical: string;
  /** Prefix length; the full length (32 or 128) for a single address. */
  prefix: number;
}

/** Longest address text accepted: a full IPv6 network is 43 characters. */
export const MAX_ADDRESS_LENGTH = 43;

function parseIPv4Octets(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    // No leading zeros: inet_pton rejects them and some tools read them as octal.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    octets.push(value);
  }
  return octets;
}

function parseIPv6Groups(text: string): number[] | undefined {
  // Hex and colons only: no embedded dotted IPv4, no zone index (%eth0).
  if (!/^[0-9a-fA-F:]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      groups.push(parseInt(group, 16));
    }
    return groups;
  };
  const head = groupsOf(halves[0]);
  if (!head) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const tail = groupsOf(halves[1]);
  // "::" stands for at least one zero group.
  if (!tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** Formats like glibc's inet_ntop (which ufw uses): lowercase, longest run of 2+ zero groups as "::". */
function formatIPv6Groups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestLength < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** inet_ntop prints these with a dotted IPv4 tail, a form this module does not produce. */
function isIPv4Embedded(groups: readonly number[]): boolean {
  const leadingZeros = groups.slice(0, 5).every((group) => group === 0);
  return leadingZeros && (groups[5] === 0xffff || (groups[5] === 0 && groups[6] !== 0));
}

function hostBitsSet(bytes: readonly number[], prefix: number): boolean {
  return bytes.some((byte, index) => {
    const keep = Math.max(0, Math.min(8, prefix - index * 8));
    const hostMask = 0xff >> keep;
    return (byte & hostMask) !== 0;
  });
}

function clearHostBits(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((byte, index) => {
    const keep = Math.max(0, Math.min(8, prefix - index * 8));
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
}

const bytesOfGroups = (groups: readonly number[]): number[] => groups.flatMap((group) => [group >> 8, group & 0xff]);
const groupsOfBytes = (bytes: readonly number[]): number[] =>
  Array.from({ length: 8 }, (_, index) => (bytes[index * 2] << 8) | bytes[index * 2 + 1]);

export type AddressResult = { ok: true; address: ParsedAddress } | { ok: false; reason: string };

/**
 * Parses an IPv4/IPv6 address or CIDR network ("any" is the caller's business).
 * Networks must have their host bits clear: ufw silently rewrites an IPv4
 * 10.0.0.5/24 to 10.0.0.0/24 (so the stored rule would differ from the input)
 * and keeps an IPv6 one as written, which reads as a single host but is not.
 */
export function parseAddress(text: string): AddressResult {
  if (text.length > MAX_ADDRESS_LENGTH) {
    return { ok: false, reason: `is ${text.length} characters long; an address or network has at most ${MAX_ADDRESS_LENGTH}` };
  }
  const slash = text.indexOf("/");
  const host = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const v4 = parseIPv4Octets(host);
  const v6 = v4 ? undefined : parseIPv6Groups(host);
  if (!v4 && !v6) {
    return {
      ok: false,
      reason: `"${text}" is not an IPv4 address (e.g. 192.0.2.10), IPv6 address (e.g. 2001:db8::10) or CIDR network (e.g. 192.0.2.0/24, 2001:db8::/32)`,
    };
  }
  const family: AddressFamily = v4 ? "v4" : "v6";
  const width = v4 ? 32 : 128;
  let prefix = width;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > width) {
      return { ok: false, reason: `"${text}" has prefix length "${prefixText}"; use a number from 0 to ${width} (dotted netmasks are not accepted)` };
    }
    prefix = Number(prefixText);
  }
  if (v6 && isIPv4Embedded(v6)) {
    return { ok: false, reason: `"${text}" is an IPv4-mapped or IPv4-compatible IPv6 address; write the IPv4 address instead` };
  }
  const bytes = v4 ?? bytesOfGroups(v6 as number[]);
  if (hostBitsSet(bytes, prefix)) {
    const network = clearHostBits(bytes, prefix);
    const suggestion = v4 ? network.join(".") : formatIPv6Groups(groupsOfBytes(network));
    return { ok: false, reason: `"${text}" has host bits set after the /${prefix} prefix; write the network as ${suggestion}/${prefix}` };
  }
  const base = v4 ? v4.join(".") : formatIPv6Groups(v6 as number[]);
  // ufw drops a full-length prefix: 192.0.2.1/32 is stored as 192.0.2.1.
  const canonical = prefix === width ? base : `${base}/${prefix}`;
  return { ok: true, address: { family, canonical, prefix } };
}

/** True for the "everywhere" networks ufw stores for "any": 0.0.0.0/0 and ::/0. */
export function isAnywhere(canonical: string): boolean {
  return canonical === "0.0.0.0/0" || canonical === "::/0";
}

/** The address's bytes (4 or 16), or undefined when it is not a plain IPv4/IPv6 address or network. */
function addressBytes(text: string): { family: AddressFamily; bytes: number[]; prefix: number } | undefined {
  const [host, prefixText] = text.split("/");
  const v4 = parseIPv4Octets(host);
  const v6 = v4 ? undefined : parseIPv6Groups(host);
  if (!v4 && !v6) return undefined;
  const width = v4 ? 32 : 128;
  return { family: v4 ? "v4" : "v6", bytes: v4 ?? bytesOfGroups(v6 as number[]), prefix: prefixText === undefined ? width : Number(prefixText) };
}

/** Whether the network (an address, a CIDR network, or ufw's anywhere) contains the address; false across families. */
export function networkContains(network: string, address: string): boolean {
  const net = addressBytes(network);
  const host = addressBytes(address);
  if (!net || !host || net.family !== host.family) return false;
  const networkBytes = clearHostBits(net.bytes, net.prefix);
  return clearHostBits(host.bytes, net.prefix).every((byte, index) => byte === networkBytes[index]);
}

/** The family of an IP address literal, undefined for a DNS name. */
export function addressFamilyOf(text: string): AddressFamily | undefined {
  return addressBytes(text)?.family;
}
