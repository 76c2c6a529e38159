import assert from "node:assert/strict";
import type { ResourceKind } from "../../providers/registry";

// The bad-input table of the reliability suite (issue 8): stack configs and
// resource inputs that must be refused at `pulumi preview`, before any SSH
// connection, with a message naming host, resource and field.
//
// Config cases are raw program configs (what `pulumi config` holds under the
// project's namespace); resource cases are the inputs a program could give a
// dynamic resource directly, checked by the provider's check step. Both are
// checked in test/unit/reliability-input.test.ts, and ENGINE_PREVIEWS (below) carry
// examples of every category through the real engine's preview against a
// sandbox host. docs/RELIABILITY.md is rendered from these tables
// (test/support/reliability-report.ts).

export const CATEGORIES = {
  port: "ports out of range",
  "port-range": "bad port ranges and lists",
  protocol: "unknown protocols",
  address: "malformed or mixed-family addresses and networks",
  duration: "invalid durations",
  maxretry: "maxretry zero, negative or not an integer",
  regex: "regexes without <HOST> or that do not compile",
  "unknown-key": "unknown keys",
  duplicate: "duplicate rules, jails, filters and hosts",
  hosts: "empty or malformed host lists",
  "host-key": "missing or malformed host keys",
  hostile: "hostile values: shell metacharacters, quotes, newlines, brackets",
  traversal: "path traversal in file names and paths",
  long: "very long values",
  lockout: "configs that would cut the program's own SSH access",
} as const;

export type Category = keyof typeof CATEGORIES;

/** What the message must name. `host` and `resource` are matched literally, `field` is the exact field. */
export interface Expectation {
  host: string;
  resource: string;
  field: string;
  /** A part of the explanation (what is wrong or allowed). */
  says: RegExp;
}

/** A host entry as the stack config holds it. */
export interface HostEntry {
  name: string;
  address: string;
  hostKey: string;
  port?: number;
  user?: string;
  [key: string]: unknown;
}

export interface ConfigCase {
  id: string;
  category: Category;
  what: string;
  /** The raw program config, built around one valid host entry. */
  config: (host: HostEntry) => Record<string, unknown>;
  /** Expected messages; the stack name is filled in as `{stack}`. */
  expect: (host: HostEntry) => Expectation[];
}

export interface ResourceCase {
  id: string;
  category: Category;
  what: string;
  kind: ResourceKind;
  /** Inputs as the resource class passes them (label included). */
  inputs: (connection: HostEntry) => Record<string, unknown>;
  expect: (connection: HostEntry) => Expectation;
}

// ------------------------------------------------------------------ checking messages

/** The problem line for an expectation, from a message listing one problem per `[host ..., resource ..., field ...]` line. */
export function findProblem(message: string, expectation: Expectation, stack: string, fieldPrefix: string): string | undefined {
  const head = `[host ${expectation.host}, resource ${expectation.resource.replace("{stack}", stack)}, field ${fieldPrefix}${expectation.field}] `;
  const start = message.indexOf(head);
  if (start < 0) return undefined;
  return message.slice(start + head.length).split("\n")[0];
}

export function assertNamed(message: string, expectations: Expectation[], stack: string, fieldPrefix: string, id: string) {
  for (const expectation of expectations) {
    const problem = findProblem(message, expectation, stack, fieldPrefix);
    assert.ok(problem !== undefined, `${id}: no problem for host ${expectation.host}, field ${expectation.field} in:\n${message}`);
    assert.match(problem, expectation.says, `${id}: ${expectation.field}`);
  }
}

// ------------------------------------------------------------------ helpers

const config = (host: HostEntry, rest: Record<string, unknown> = {}): Record<string, unknown> => ({ hosts: [host], ...rest });
const rule = (fields: Record<string, unknown>) => ({ action: "allow", protocol: "tcp", ...fields });
const extraRule = (fields: Record<string, unknown>) => (host: HostEntry) => config(host, { ufw: { extraRules: [rule(fields)] } });
const jail = (fields: Record<string, unknown>) => (host: HostEntry) => config(host, { fail2ban: { jails: [{ name: "sshd", ...fields }] } });
const defaults = (fields: Record<string, unknown>) => (host: HostEntry) => config(host, { fail2ban: { defaults: fields } });
const hostWith = (fields: Record<string, unknown>) => (host: HostEntry) => config({ ...host, ...fields });
/** A filter that is otherwise valid (and keeps the default proxmox jail's filter). */
const filter = (fields: Record<string, unknown>) => (host: HostEntry) =>
  config(host, {
    fail2ban: {
      filters: [
        {
          name: "proxmox",
          failregex: String.raw`^\S+ \S+ pvedaemon\[\d+\]: authentication failure; rhost=<HOST> user=\S+ msg=.*$`,
          samples: { match: ["Nov 25 13:40:01 pve1 pvedaemon[1562]: authentication failure; rhost=192.0.2.10 user=root@pam msg=x"] },
          ...fields,
        },
      ],
    },
  });

const CONFIG = "stack {stack} config";
const ALL = "every host";
const everyHost = (field: string, says: RegExp) => () => [{ host: ALL, resource: CONFIG, field, says }];
const onHost = (field: string, says: RegExp) => (host: HostEntry) => [{ host: host.name, resource: CONFIG, field, says }];

const long = (length: number, unit = "a") => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

// ------------------------------------------------------------------ config cases

export const CONFIG_CASES: ConfigCase[] = [
  // ports out of range
  { id: "rule-port-0", category: "port", what: "ufw rule port 0", config: extraRule({ port: 0 }), expect: everyHost("ufw.extraRules[0].port", /1 to 65535/) },
  { id: "rule-port-65536", category: "port", what: "ufw rule port 65536", config: extraRule({ port: 65536 }), expect: everyHost("ufw.extraRules[0].port", /1 to 65535/) },
  { id: "rule-port-negative", category: "port", what: "ufw rule port -22", config: extraRule({ port: -22 }), expect: everyHost("ufw.extraRules[0].port", /1 to 65535/) },
  { id: "rule-port-fraction", category: "port", what: "ufw rule port 22.5", config: extraRule({ port: 22.5 }), expect: everyHost("ufw.extraRules[0].port", /whole number/) },
  { id: "rule-port-string-70000", category: "port", what: 'ufw rule port "70000"', config: extraRule({ port: "70000" }), expect: everyHost("ufw.extraRules[0].port", /not valid/) },
  { id: "host-port-0", category: "port", what: "SSH port 0", config: hostWith({ port: 0 }), expect: onHost("hosts[0].port", />=1|at least|too small/i) },
  { id: "host-port-70000", category: "port", what: "SSH port 70000", config: hostWith({ port: 70000 }), expect: onHost("hosts[0].port", /<=65535|too big/i) },
  { id: "jail-port-70000", category: "port", what: "jail port 70000", config: jail({ port: 70000 }), expect: everyHost("fail2ban.jails[0].port", /1-65535/) },
  { id: "jail-port-0", category: "port", what: "jail port 0", config: jail({ port: 0 }), expect: everyHost("fail2ban.jails[0].port", /1-65535/) },

  // bad port ranges and lists
  { id: "range-reversed", category: "port-range", what: 'port range "2000:1000"', config: extraRule({ port: "2000:1000" }), expect: everyHost("ufw.extraRules[0].port", /low to high/) },
  { id: "range-empty", category: "port-range", what: 'port range "22:22"', config: extraRule({ port: "22:22" }), expect: everyHost("ufw.extraRules[0].port", /single port 22/) },
  { id: "range-three-bounds", category: "port-range", what: 'port "1:2:3"', config: extraRule({ port: "1:2:3" }), expect: everyHost("ufw.extraRules[0].port", /not valid/) },
  { id: "range-open-low", category: "port-range", what: 'port ":80"', config: extraRule({ port: ":80" }), expect: everyHost("ufw.extraRules[0].port", /not valid/) },
  { id: "range-open-high", category: "port-range", what: 'port "80:"', config: extraRule({ port: "80:" }), expect: everyHost("ufw.extraRules[0].port", /not valid/) },
  { id: "list-too-long", category: "port-range", what: "16 ports in one rule", config: extraRule({ port: Array.from({ length: 16 }, (_, i) => 1000 + i).join(",") }), expect: everyHost("ufw.extraRules[0].port", /at most 15/) },
  { id: "list-duplicate", category: "port-range", what: 'port "80,80"', config: extraRule({ port: "80,80" }), expect: everyHost("ufw.extraRules[0].port", /twice/) },
  { id: "range-protocol-any", category: "port-range", what: "a range with protocol any", config: extraRule({ port: "60000:60050", protocol: "any" }), expect: everyHost("ufw.extraRules[0].protocol", /tcp or udp/) },
  { id: "jail-range-reversed", category: "port-range", what: 'jail port "9000:8000"', config: jail({ port: "9000:8000" }), expect: everyHost("fail2ban.jails[0].port", /low:high/) },

  // unknown protocols
  { id: "proto-icmp", category: "protocol", what: "protocol icmp", config: extraRule({ protocol: "icmp" }), expect: everyHost("ufw.extraRules[0].protocol", /one of tcp, udp, any/) },
  { id: "proto-upper", category: "protocol", what: "protocol TCP (upper case)", config: extraRule({ protocol: "TCP" }), expect: everyHost("ufw.extraRules[0].protocol", /one of tcp, udp, any/) },
  { id: "proto-number", category: "protocol", what: "protocol 6", config: extraRule({ protocol: 6 }), expect: everyHost("ufw.extraRules[0].protocol", /one of tcp, udp, any/) },
  { id: "jail-proto-sctp", category: "protocol", what: "jail protocol sctp", config: jail({ protocol: "sctp" }), expect: everyHost("fail2ban.jails[0].protocol", /tcp, udp or all/) },

  // malformed or mixed-family addresses
  { id: "addr-octet", category: "address", what: "from 300.1.1.1", config: extraRule({ port: 9100, from: "300.1.1.1" }), expect: everyHost("ufw.extraRules[0].from", /not an IPv4 address/) },
  { id: "addr-prefix-33", category: "address", what: "from 198.51.100.0/33", config: extraRule({ port: 9100, from: "198.51.100.0/33" }), expect: everyHost("ufw.extraRules[0].from", /prefix length "33"; use a number from 0 to 32/) },
  { id: "addr-host-bits", category: "address", what: "from 198.51.100.7/24 (host bits set)", config: extraRule({ port: 9100, from: "198.51.100.7/24" }), expect: everyHost("ufw.extraRules[0].from", /host bits|198\.51\.100\.0\/24/) },
  { id: "addr-leading-zero", category: "address", what: "from 010.1.1.1", config: extraRule({ port: 9100, from: "010.1.1.1" }), expect: everyHost("ufw.extraRules[0].from", /not an IPv4 address/) },
  { id: "addr-v6-triple-colon", category: "address", what: "from 2001:db8:::1", config: extraRule({ port: 9100, from: "2001:db8:::1" }), expect: everyHost("ufw.extraRules[0].from", /"2001:db8:::1" is not an IPv4 address .*, IPv6 address .* or CIDR network/) },
  { id: "addr-v6-prefix-129", category: "address", what: "from 2001:db8::/129", config: extraRule({ port: 9100, from: "2001:db8::/129" }), expect: everyHost("ufw.extraRules[0].from", /prefix length "129"; use a number from 0 to 128/) },
  { id: "addr-zone", category: "address", what: "from fe80::1%eth0 (zone index)", config: extraRule({ port: 9100, from: "fe80::1%eth0" }), expect: everyHost("ufw.extraRules[0].from", /"fe80::1%eth0" is not an IPv4 address .*, IPv6 address .* or CIDR network/) },
  { id: "addr-mixed-family", category: "address", what: "from IPv4 to IPv6", config: extraRule({ port: 9100, from: "198.51.100.0/24", to: "2001:db8::/64" }), expect: everyHost("ufw.extraRules[0].to", /one IP family/) },
  { id: "addr-cluster-any", category: "address", what: 'cluster network "any"', config: (host) => config(host, { ufw: { clusterTraffic: { network: "any" } } }), expect: everyHost("ufw.clusterTraffic.network", /not allowed/) },
  { id: "ignoreip-prefix", category: "address", what: "ignoreip 10.0.0.0/33", config: defaults({ ignoreip: ["10.0.0.0/33"] }), expect: everyHost("fail2ban.defaults.ignoreip[0]", /0-32/) },
  { id: "ignoreip-name", category: "address", what: "ignoreip with a host name", config: defaults({ ignoreip: ["admin.example.org"] }), expect: everyHost("fail2ban.defaults.ignoreip[0]", /host names are not accepted/) },
  { id: "host-address-empty", category: "address", what: "empty host address", config: hostWith({ address: "" }), expect: onHost("hosts[0].address", /expected string to have >=1 characters/) },

  // invalid durations
  { id: "bantime-year", category: "duration", what: 'bantime "1y"', config: defaults({ bantime: "1y" }), expect: everyHost("fail2ban.defaults.bantime", /time abbreviations/) },
  { id: "bantime-negative", category: "duration", what: "bantime -5", config: defaults({ bantime: -5 }), expect: everyHost("fail2ban.defaults.bantime", /at least 1 second/) },
  { id: "bantime-zero", category: "duration", what: "bantime 0", config: defaults({ bantime: 0 }), expect: everyHost("fail2ban.defaults.bantime", /at least 1 second/) },
  { id: "bantime-minus-one", category: "duration", what: "bantime -1 (forever, implicitly)", config: defaults({ bantime: -1 }), expect: everyHost("fail2ban.defaults.bantime", /permanent/) },
  { id: "bantime-space", category: "duration", what: 'bantime "10 m"', config: defaults({ bantime: "10 m" }), expect: everyHost("fail2ban.defaults.bantime", /time abbreviations/) },
  { id: "findtime-repeated-unit", category: "duration", what: 'findtime "1h1h"', config: defaults({ findtime: "1h1h" }), expect: everyHost("fail2ban.defaults.findtime", /each at most once/) },
  { id: "findtime-too-long", category: "duration", what: "findtime of 400 days", config: defaults({ findtime: "400d" }), expect: everyHost("fail2ban.defaults.findtime", /366 days/) },
  { id: "findtime-fraction", category: "duration", what: "findtime 1.5", config: defaults({ findtime: 1.5 }), expect: everyHost("fail2ban.defaults.findtime", /whole seconds/) },
  { id: "jail-bantime-words", category: "duration", what: 'jail bantime "forever"', config: jail({ bantime: "forever" }), expect: everyHost("fail2ban.jails[0].bantime", /permanent/) },
  { id: "increment-maxtime", category: "duration", what: 'bantimeIncrement.maxtime "1x"', config: defaults({ bantimeIncrement: { maxtime: "1x" } }), expect: everyHost("fail2ban.defaults.bantimeIncrement.maxtime", /duration/) },

  // maxretry
  { id: "maxretry-0", category: "maxretry", what: "maxretry 0", config: defaults({ maxretry: 0 }), expect: everyHost("fail2ban.defaults.maxretry", /at least 1/) },
  { id: "maxretry-negative", category: "maxretry", what: "maxretry -3", config: defaults({ maxretry: -3 }), expect: everyHost("fail2ban.defaults.maxretry", /at least 1/) },
  { id: "maxretry-fraction", category: "maxretry", what: "maxretry 2.5", config: defaults({ maxretry: 2.5 }), expect: everyHost("fail2ban.defaults.maxretry", /integer/) },
  { id: "maxretry-string", category: "maxretry", what: 'maxretry "3"', config: defaults({ maxretry: "3" }), expect: everyHost("fail2ban.defaults.maxretry", /integer/) },
  { id: "maxretry-huge", category: "maxretry", what: "maxretry 1001", config: defaults({ maxretry: 1001 }), expect: everyHost("fail2ban.defaults.maxretry", /at most 1000/) },
  { id: "jail-maxretry-0", category: "maxretry", what: "jail maxretry 0", config: jail({ maxretry: 0 }), expect: everyHost("fail2ban.jails[0].maxretry", /at least 1/) },

  // regexes
  { id: "failregex-no-host", category: "regex", what: "failregex without <HOST>", config: filter({ failregex: ["^authentication failure from somewhere$"] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /must capture the offender/) },
  { id: "failregex-unbalanced", category: "regex", what: "failregex (<HOST> (does not compile)", config: filter({ failregex: "^(<HOST>$" }), expect: everyHost("fail2ban.filters[0].failregex", /does not compile/) },
  { id: "failregex-bad-class", category: "regex", what: "failregex with [z-a]", config: filter({ failregex: ["^[z-a] <HOST>$"] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /does not compile/) },
  { id: "failregex-bad-backref", category: "regex", what: "failregex with a backreference to no group", config: filter({ failregex: [String.raw`^(a)\2 <HOST>$`] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /does not compile/) },
  { id: "ignoreregex-unbalanced", category: "regex", what: "ignoreregex [a-", config: filter({ ignoreregex: ["[a-"] }), expect: everyHost("fail2ban.filters[0].ignoreregex[0]", /does not compile/) },
  { id: "prefregex-bad-group", category: "regex", what: "prefregex (?P<x", config: filter({ prefregex: "^(?P<x" }), expect: everyHost("fail2ban.filters[0].prefregex", /does not compile/) },
  { id: "datepattern-unknown", category: "regex", what: "datepattern with %Q", config: filter({ datepattern: "%Y-%Q" }), expect: everyHost("fail2ban.filters[0].datepattern", /unknown date directive/) },
  { id: "daemon-regex", category: "regex", what: "jail filter _daemon that does not compile", config: jail({ filter: { name: "sshd", _daemon: "sshd(" } }), expect: everyHost("fail2ban.jails[0].filter._daemon", /does not compile/) },

  // unknown keys
  { id: "unknown-top", category: "unknown-key", what: "proxmox-hardening:fail2bann (a typo)", config: (host) => config(host, { fail2bann: { defaults: { maxretry: 2 } } }), expect: everyHost("fail2bann", /Unrecognized key|unknown/) },
  { id: "unknown-host", category: "unknown-key", what: "hosts[0].colour", config: hostWith({ colour: "blue" }), expect: onHost("hosts[0].colour", /Unrecognized key|unknown/) },
  { id: "unknown-rule", category: "unknown-key", what: "ufw rule field source", config: extraRule({ port: 9100, source: "198.51.100.0/24" }), expect: everyHost("ufw.extraRules[0].source", /allowed fields/) },
  { id: "unknown-ufw", category: "unknown-key", what: "ufw.enable (for enabled)", config: (host) => config(host, { ufw: { enable: true } }), expect: everyHost("ufw.enable", /Unrecognized key|unknown/) },
  { id: "unknown-ufw-defaults", category: "unknown-key", what: "ufw.defaults.forward", config: (host) => config(host, { ufw: { defaults: { forward: "deny" } } }), expect: everyHost("ufw.defaults.forward", /allowed fields/) },
  { id: "unknown-jail", category: "unknown-key", what: "jail option bantime_increment", config: jail({ bantime_increment: true }), expect: everyHost("fail2ban.jails[0].bantime_increment", /unknown jail option/) },
  { id: "unknown-filter", category: "unknown-key", what: "filter option failregexp", config: filter({ failregexp: "x" }), expect: everyHost("fail2ban.filters[0].failregexp", /unknown filter option/) },
  { id: "unknown-f2b-defaults", category: "unknown-key", what: "fail2ban default option destemail", config: defaults({ destemail: "root@example.org" }), expect: everyHost("fail2ban.defaults.destemail", /unknown fail2ban default option/) },
  { id: "unknown-pvefw", category: "unknown-key", what: "proxmoxFirewall.enabled (for enable)", config: (host) => config(host, { proxmoxFirewall: { enabled: false } }), expect: everyHost("proxmoxFirewall.enabled", /Unrecognized key|unknown/) },
  { id: "unknown-packages", category: "unknown-key", what: "packages.purge", config: (host) => config(host, { packages: { purge: true } }), expect: everyHost("packages.purge", /Unrecognized key|unknown/) },

  // duplicates
  { id: "dup-rule-base", category: "duplicate", what: "an extra rule repeating the SSH rule", config: extraRule({ port: 22, comment: "again" }), expect: everyHost("ufw.extraRules[0]", /same match as another rule/) },
  { id: "dup-rule-extra", category: "duplicate", what: "the same extra rule twice", config: (host) => config(host, { ufw: { extraRules: [rule({ port: 9100 }), rule({ port: 9100 })] } }), expect: everyHost("ufw.extraRules[1]", /same match as another rule/) },
  { id: "dup-rule-normalized", category: "duplicate", what: 'the same rule written as 9100 and "9100"', config: (host) => config(host, { ufw: { extraRules: [rule({ port: 9100 }), rule({ port: "9100", comment: "x" })] } }), expect: everyHost("ufw.extraRules[1]", /same match as another rule/) },
  { id: "dup-jail", category: "duplicate", what: "two jails named sshd", config: (host) => config(host, { fail2ban: { jails: [{ name: "sshd" }, { name: "sshd", maxretry: 2 }] } }), expect: everyHost("fail2ban.jails[1].name", /jail name repeats/) },
  { id: "dup-filter", category: "duplicate", what: "two filters named proxmox", config: (host) => { const one = filter({})(host).fail2ban as { filters: unknown[] }; return config(host, { fail2ban: { filters: [one.filters[0], one.filters[0]] } }); }, expect: everyHost("fail2ban.filters[1].name", /filter name repeats/) },
  { id: "dup-host-name", category: "duplicate", what: "two hosts with the same name", config: (host) => ({ hosts: [host, { ...host, address: "198.51.100.99" }] }), expect: (host) => [{ host: host.name, resource: CONFIG, field: "hosts[1].name", says: /host name repeats/ }] },
  { id: "dup-host-address", category: "duplicate", what: "two hosts at the same address and port", config: (host) => ({ hosts: [host, { ...host, name: "pve99" }] }), expect: () => [{ host: "pve99", resource: CONFIG, field: "hosts[1].address", says: /address and port repeats/ }] },
  { id: "jail-unknown-filter", category: "unknown-key", what: "a jail naming a filter that does not exist", config: jail({ filter: { name: "nosuchfilter" } }), expect: everyHost("fail2ban.jails[0].filter", /neither one of fail2ban's stock filters/) },

  // host lists
  { id: "hosts-empty", category: "hosts", what: "hosts: []", config: () => ({ hosts: [] }), expect: everyHost("hosts", /at least one host/) },
  { id: "hosts-missing", category: "hosts", what: "no hosts key", config: () => ({}), expect: everyHost("hosts", /expected array/) },
  { id: "hosts-object", category: "hosts", what: "hosts as an object", config: (host) => ({ hosts: { pve1: host } }), expect: everyHost("hosts", /expected array/) },
  { id: "hosts-null-entry", category: "hosts", what: "hosts: [null]", config: () => ({ hosts: [null] }), expect: () => [{ host: "hosts[0]", resource: CONFIG, field: "hosts[0]", says: /expected object/ }] },

  // host keys
  { id: "hostkey-missing", category: "host-key", what: "a host without hostKey", config: (host) => ({ hosts: [{ name: host.name, address: host.address }] }), expect: onHost("hosts[0].hostKey", /hostKey is missing/) },
  { id: "hostkey-garbage", category: "host-key", what: "hostKey not a key", config: hostWith({ hostKey: "trust me" }), expect: onHost("hosts[0].hostKey", /public key line/) },
  { id: "hostkey-short-fingerprint", category: "host-key", what: "hostKey SHA256: fingerprint cut short", config: hostWith({ hostKey: "SHA256:abc" }), expect: onHost("hosts[0].hostKey", /public key line/) },
  { id: "hostkey-dss", category: "host-key", what: "hostKey of type ssh-dss", config: hostWith({ hostKey: "ssh-dss AAAAB3NzaC1kc3MAAACBAP" }), expect: onHost("hosts[0].hostKey", /public key line/) },

  // hostile values
  { id: "jail-name-section", category: "hostile", what: "jail name with ] newline [ (INI section injection)", config: jail({ name: "sshd]\n[evil" }), expect: everyHost("fail2ban.jails[0].name", /letters, digits/) },
  { id: "jail-name-subshell", category: "hostile", what: "jail name $(reboot)", config: jail({ name: "$(reboot)" }), expect: everyHost("fail2ban.jails[0].name", /letters, digits/) },
  { id: "jail-name-quote", category: "hostile", what: "jail name with a quote", config: jail({ name: "ssh'd" }), expect: everyHost("fail2ban.jails[0].name", /letters, digits/) },
  { id: "jail-name-reserved", category: "hostile", what: "jail named DEFAULT", config: jail({ name: "DEFAULT" }), expect: everyHost("fail2ban.jails[0].name", /reserved section/) },
  { id: "filter-name-bracket", category: "hostile", what: "filter name proxmox]", config: filter({ name: "proxmox]" }), expect: everyHost("fail2ban.filters[0].name", /letters, digits/) },
  { id: "filter-ref-options", category: "hostile", what: "jail filter sshd[mode=aggressive] (option injection)", config: jail({ filter: { name: "sshd[mode=aggressive]" } }), expect: everyHost("fail2ban.jails[0].filter.name", /letters, digits/) },
  { id: "filter-stock-name", category: "hostile", what: "a managed filter named sshd (overwrites the package's file)", config: filter({ name: "sshd" }), expect: everyHost("fail2ban.filters[0].name", /filter fail2ban ships/) },
  { id: "comment-quote", category: "hostile", what: "comment ssh'; reboot; '", config: extraRule({ port: 9100, comment: "ssh'; reboot; '" }), expect: everyHost("ufw.extraRules[0].comment", /not allowed/) },
  { id: "comment-newline", category: "hostile", what: "comment with a newline", config: extraRule({ port: 9100, comment: "ssh\nallow 1:65535/tcp" }), expect: everyHost("ufw.extraRules[0].comment", /not allowed/) },
  { id: "comment-subshell", category: "hostile", what: "comment $(id)", config: extraRule({ port: 9100, comment: "$(id)" }), expect: everyHost("ufw.extraRules[0].comment", /not allowed/) },
  { id: "comment-keyword", category: "hostile", what: 'comment "in" (a ufw keyword)', config: extraRule({ port: 9100, comment: "in" }), expect: everyHost("ufw.extraRules[0].comment", /keyword/) },
  { id: "failregex-newline", category: "hostile", what: "failregex with a newline and a new section", config: filter({ failregex: ["^<HOST>$\n[Definition]\nfailregex = .*"] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /newlines/) },
  { id: "failregex-comment", category: "hostile", what: "failregex starting with #", config: filter({ failregex: ["#<HOST>"] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /must not start with '#'/) },
  { id: "failregex-inline-comment", category: "hostile", what: "failregex with ' ;' (cut as an inline comment)", config: filter({ failregex: ["^<HOST> ;x$"] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /inline comment/) },
  { id: "journalmatch-shell", category: "hostile", what: "journalmatch with ;reboot", config: jail({ backend: "systemd", logpath: undefined, journalmatch: "SYSLOG_IDENTIFIER=x;reboot" }), expect: everyHost("fail2ban.jails[0].journalmatch", /value of SYSLOG_IDENTIFIER/) },
  { id: "interface-shell", category: "hostile", what: "interface eth0;reboot", config: extraRule({ port: 9100, interface: "eth0;reboot" }), expect: everyHost("ufw.extraRules[0].interface", /not valid/) },
  { id: "port-shell", category: "hostile", what: 'port "22;reboot"', config: extraRule({ port: "22;reboot" }), expect: everyHost("ufw.extraRules[0].port", /may only contain digits/) },
  { id: "jail-port-shell", category: "hostile", what: 'jail port "ssh;reboot"', config: jail({ port: "ssh;reboot" }), expect: everyHost("fail2ban.jails[0].port", /service name/) },
  { id: "host-name-newline", category: "hostile", what: "host name with a newline", config: hostWith({ name: "pve1\n[host evil" }), expect: () => [{ host: 'hosts[0] "pve1\\n[host evil"', resource: CONFIG, field: "hosts[0].name", says: /host name/ }] },
  { id: "host-address-option", category: "hostile", what: "address -oProxyCommand=reboot", config: hostWith({ address: "198.51.100.11 -oProxyCommand=reboot" }), expect: onHost("hosts[0].address", /IPv4 or IPv6 address or a DNS name/) },
  { id: "host-user-shell", category: "hostile", what: "user root;id", config: hostWith({ user: "root;id" }), expect: onHost("hosts[0].user", /Linux user name/) },
  { id: "cluster-shell", category: "hostile", what: "cluster name with a space and $", config: hostWith({ cluster: "a $b" }), expect: onHost("hosts[0].cluster", /cluster name/) },
  { id: "daemon-quote", category: "hostile", what: 'jail filter _daemon with a quote', config: jail({ filter: { name: "sshd", _daemon: 'sshd"]' } }), expect: everyHost("fail2ban.jails[0].filter._daemon", /quotes/) },
  { id: "sample-newline", category: "hostile", what: "a sample line with a newline", config: filter({ samples: { match: ["a <HOST>\nb"] } }), expect: everyHost("fail2ban.filters[0].samples.match[0]", /one log line/) },
  { id: "chain-shell", category: "hostile", what: "chain INPUT;reboot", config: defaults({ chain: "INPUT;reboot" }), expect: everyHost("fail2ban.defaults.chain", /chain name/) },
  { id: "email-newline", category: "hostile", what: "destemail with a newline", config: jail({ action: "action_mw", destemail: "root@example.org\naction = x" }), expect: everyHost("fail2ban.jails[0].destemail", /e-mail/) },
  { id: "policy-lowercase", category: "hostile", what: 'proxmoxFirewall.policy_in "accept;reboot"', config: (host) => config(host, { proxmoxFirewall: { policy_in: "accept;reboot" } }), expect: everyHost("proxmoxFirewall.policy_in", /ACCEPT/) },

  // path traversal
  { id: "filter-name-traversal", category: "traversal", what: "filter name ../../../etc/cron.d/x", config: filter({ name: "../../../etc/cron.d/x" }), expect: everyHost("fail2ban.filters[0].name", /letters, digits/) },
  { id: "jail-name-traversal", category: "traversal", what: "jail name ../../ssh/sshd_config", config: jail({ name: "../../ssh/sshd_config" }), expect: everyHost("fail2ban.jails[0].name", /letters, digits/) },
  { id: "filter-name-slash", category: "traversal", what: "filter name a/b", config: filter({ name: "a/b" }), expect: everyHost("fail2ban.filters[0].name", /letters, digits/) },
  { id: "filter-name-dot", category: "traversal", what: "filter name .hidden", config: filter({ name: ".hidden" }), expect: everyHost("fail2ban.filters[0].name", /starting with a letter or digit/) },
  { id: "logpath-traversal", category: "traversal", what: "logpath /var/log/../../etc/shadow", config: jail({ logpath: ["/var/log/../../etc/shadow"] }), expect: everyHost("fail2ban.jails[0].logpath[0]", /no '\.' or '\.\.' segments/) },
  { id: "logpath-relative", category: "traversal", what: "logpath var/log/syslog (relative)", config: jail({ logpath: ["var/log/syslog"] }), expect: everyHost("fail2ban.jails[0].logpath[0]", /absolute paths/) },
  { id: "logpath-subshell", category: "traversal", what: "logpath /var/log/$(reboot)", config: jail({ logpath: ["/var/log/$(reboot)"] }), expect: everyHost("fail2ban.jails[0].logpath[0]", /absolute paths/) },
  { id: "logpath-space", category: "traversal", what: "logpath with a space", config: jail({ logpath: ["/var/log/a b.log"] }), expect: everyHost("fail2ban.jails[0].logpath[0]", /no spaces/) },

  // very long values
  { id: "long-comment", category: "long", what: "a 10 000 character comment", config: extraRule({ port: 9100, comment: long(10_000) }), expect: everyHost("ufw.extraRules[0].comment", /10000 characters long/) },
  { id: "long-jail-name", category: "long", what: "a 25 character jail name", config: jail({ name: long(25) }), expect: everyHost("fail2ban.jails[0].name", /1-24 characters/) },
  { id: "long-host-name", category: "long", what: "a 64 character host name", config: hostWith({ name: long(64) }), expect: () => [{ host: `hosts[0] ${JSON.stringify(long(40))}`, resource: CONFIG, field: "hosts[0].name", says: /at most 63/ }] },
  { id: "long-address", category: "long", what: "a 300 character address", config: hostWith({ address: long(300, "a.") }), expect: onHost("hosts[0].address", /expected string to have <=253 characters/) },
  { id: "long-failregex", category: "long", what: "a 5000 character failregex", config: filter({ failregex: [`^${long(5000)} <HOST>$`] }), expect: everyHost("fail2ban.filters[0].failregex[0]", /at most 1000/) },
  { id: "long-logpath", category: "long", what: "a 300 character logpath", config: jail({ logpath: [`/var/log/${long(300)}`] }), expect: everyHost("fail2ban.jails[0].logpath[0]", /at most 255/) },
  { id: "long-sample", category: "long", what: "a 5000 character sample line", config: filter({ samples: { match: [long(5000)] } }), expect: everyHost("fail2ban.filters[0].samples.match[0]", /at most 4096/) },
  { id: "long-ignoreip", category: "long", what: "65 ignoreip entries", config: defaults({ ignoreip: Array.from({ length: 65 }, (_, i) => `198.51.100.${i + 1}`) }), expect: everyHost("fail2ban.defaults.ignoreip", /at most 64/) },
  { id: "long-port-text", category: "long", what: "a 200 character port list", config: extraRule({ port: long(200, "1,") }), expect: everyHost("ufw.extraRules[0].port", /characters long/) },

  // lockout
  { id: "lockout-no-ssh-rule", category: "lockout", what: "incoming deny and no rule for the SSH port", config: (host) => config(host, { ufw: { rules: [rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /cut off/) },
  { id: "lockout-other-port", category: "lockout", what: "SSH on 2222, only 22 allowed", config: hostWith({ port: 2222 }), expect: onHost("hosts[0].port", /tcp port 2222/) },
  { id: "lockout-deny-ssh", category: "lockout", what: "deny 22/tcp from everywhere", config: (host) => config(host, { ufw: { rules: [{ action: "deny", protocol: "tcp", port: 22 }, rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /would deny SSH/) },
  { id: "lockout-reject-ssh", category: "lockout", what: "reject 22/tcp from everywhere", config: (host) => config(host, { ufw: { rules: [{ action: "reject", protocol: "tcp", port: 22 }, rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /would reject SSH/) },
  { id: "lockout-shadowed", category: "lockout", what: "a deny on 22 listed before the allow", config: (host) => config(host, { ufw: { rules: [{ action: "deny", protocol: "any", port: 22 }, rule({ port: 22 }), rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /first matching rule/) },
  { id: "lockout-deny-range", category: "lockout", what: "deny 1:1024/tcp before the SSH allow", config: (host) => config(host, { ufw: { rules: [{ action: "deny", protocol: "tcp", port: "1:1024" }, rule({ port: 22 })] } }), expect: onHost("hosts[0].port", /would deny SSH/) },
  // SSH allowed only from a network passes preview: the source is judged on the host (test/management-network.test.ts).
  { id: "lockout-narrow-after-deny", category: "lockout", what: "SSH allowed from one network, after a deny of SSH from anywhere", config: (host) => config(host, { ufw: { rules: [{ action: "deny", protocol: "tcp", port: 22 }, rule({ port: 22, from: "203.0.113.0/24" }), rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /would deny SSH/) },
  { id: "lockout-v6-only-port", category: "lockout", what: "SSH allowed for IPv6 only, host reached over IPv4", config: (host) => config(host, { ufw: { rules: [rule({ port: 22, to: "::/0" }), rule({ port: 8006 })] } }), expect: onHost("hosts[0].port", /IPv4/) },
];

// ------------------------------------------------------------------ resource cases

const connection = (host: HostEntry) => ({ name: host.name, address: host.address, port: 22, user: "root", hostKey: host.hostKey });
const resource = (kind: string, label: string) => `${kind} ${label}`;
const at = (host: HostEntry, kind: string, label: string, field: string, says: RegExp): Expectation => ({ host: host.name, resource: resource(kind, label), field, says });

export const RESOURCE_CASES: ResourceCase[] = [
  { id: "res-rule-port", category: "port", what: "ufw:Rule with port 70000", kind: "ufw:Rule", inputs: (h) => ({ connection: connection(h), label: "r1", rule: rule({ port: 70000 }) }), expect: (h) => at(h, "ufw:Rule", "r1", "rule.port", /1 to 65535/) },
  { id: "res-rule-comment", category: "hostile", what: "ufw:Rule with comment $(reboot)", kind: "ufw:Rule", inputs: (h) => ({ connection: connection(h), label: "r2", rule: rule({ port: 9100, comment: "$(reboot)" }) }), expect: (h) => at(h, "ufw:Rule", "r2", "rule.comment", /not allowed/) },
  { id: "res-rule-limit-out", category: "protocol", what: "ufw:Rule limit out", kind: "ufw:Rule", inputs: (h) => ({ connection: connection(h), label: "r3", rule: { action: "limit", direction: "out", protocol: "tcp", port: 25 } }), expect: (h) => at(h, "ufw:Rule", "r3", "rule.action", /only allowed with direction in/) },
  { id: "res-activation-lockout", category: "lockout", what: "ufw:Activation whose guard rules lock SSH out", kind: "ufw:Activation", inputs: (h) => ({ connection: connection(h), label: "a1", enabled: true, guard: { sshPort: 22, incoming: "deny", rules: [rule({ port: 8006 })] } }), expect: (h) => at(h, "ufw:Activation", "a1", "enabled", /cut off/) },
  { id: "res-activation-bad-rule", category: "port", what: "ufw:Activation with an invalid guard rule", kind: "ufw:Activation", inputs: (h) => ({ connection: connection(h), label: "a2", enabled: true, guard: { sshPort: 22, incoming: "deny", rules: [rule({ port: 22, from: "300.0.0.1" })] } }), expect: (h) => at(h, "ufw:Activation", "a2", "guard.rules[0].from", /not an IPv4 address/) },
  { id: "res-defaults-policy", category: "hostile", what: "ufw:Defaults incoming 'deny; reboot'", kind: "ufw:Defaults", inputs: (h) => ({ connection: connection(h), label: "d1", defaults: { incoming: "deny; reboot" } }), expect: (h) => at(h, "ufw:Defaults", "d1", "defaults.incoming", /must be one of allow, deny, reject/) },
  { id: "res-jail-name", category: "hostile", what: "fail2ban:Jail named x]\\n[y", kind: "fail2ban:Jail", inputs: (h) => ({ connection: connection(h), label: "j1", jail: { name: "x]\n[y" } }), expect: (h) => at(h, "fail2ban:Jail", "j1", "jail.name", /letters, digits/) },
  { id: "res-filter-traversal", category: "traversal", what: "fail2ban:Filter named ../../etc/passwd", kind: "fail2ban:Filter", inputs: (h) => ({ connection: connection(h), label: "f1", filter: { name: "../../etc/passwd", failregex: "^<HOST>$", samples: { match: ["192.0.2.1"] } } }), expect: (h) => at(h, "fail2ban:Filter", "f1", "filter.name", /letters, digits/) },
  { id: "res-f2b-maxretry", category: "maxretry", what: "fail2ban:Defaults maxretry -1", kind: "fail2ban:Defaults", inputs: (h) => ({ connection: connection(h), label: "fd", defaults: { maxretry: -1 } }), expect: (h) => at(h, "fail2ban:Defaults", "fd", "defaults.maxretry", /at least 1/) },
  { id: "res-reload-jails", category: "hostile", what: "fail2ban:Reload with a jail named $(reboot)", kind: "fail2ban:Reload", inputs: (h) => ({ connection: connection(h), label: "rl", configuration: "x", jails: ["sshd", "$(reboot)"] }), expect: (h) => at(h, "fail2ban:Reload", "rl", "jails[1]", /letters, digits/) },
  { id: "res-cluster-name", category: "traversal", what: "proxmox:ClusterFirewall cluster ../x", kind: "proxmox:ClusterFirewall", inputs: (h) => ({ connection: connection(h), label: "c1", cluster: "../x", options: {} }), expect: (h) => at(h, "proxmox:ClusterFirewall", "c1", "cluster", /cluster name/) },
  { id: "res-cluster-policy", category: "hostile", what: "proxmox:ClusterFirewall policy_in ALLOW", kind: "proxmox:ClusterFirewall", inputs: (h) => ({ connection: connection(h), label: "c2", cluster: "c", options: { policy_in: "ALLOW" } }), expect: (h) => at(h, "proxmox:ClusterFirewall", "c2", "options.policy_in", /ACCEPT/) },
  { id: "res-packages-shell", category: "hostile", what: "host:Packages with 'ufw; reboot'", kind: "host:Packages", inputs: (h) => ({ connection: connection(h), label: "p1", packages: ["ufw; reboot"] }), expect: (h) => at(h, "host:Packages", "p1", "packages[0]", /Debian package name/) },
  { id: "res-hostkey-missing", category: "host-key", what: "a resource whose connection has no hostKey", kind: "ufw:Baseline", inputs: (h) => ({ connection: { name: h.name, address: h.address }, label: "b1" }), expect: (h) => at(h, "ufw:Baseline", "b1", "connection.hostKey", /hostKey is missing/) },
  { id: "res-address-option", category: "hostile", what: "a resource whose address is -oProxyCommand=x", kind: "ufw:Baseline", inputs: (h) => ({ connection: { ...connection(h), address: "-oProxyCommand=x y" }, label: "b2" }), expect: (h) => at(h, "ufw:Baseline", "b2", "connection.address", /address or a DNS name/) },
  { id: "res-timeout", category: "duration", what: "connectTimeoutSeconds 0", kind: "ufw:Baseline", inputs: (h) => ({ connection: { ...connection(h), connectTimeoutSeconds: 0 }, label: "b3" }), expect: (h) => at(h, "ufw:Baseline", "b3", "connection.connectTimeoutSeconds", />=1|too small/i) },
  { id: "res-unknown-input", category: "unknown-key", what: "an unknown input on a resource", kind: "ufw:Baseline", inputs: (h) => ({ connection: connection(h), label: "b4", force: true }), expect: (h) => at(h, "ufw:Baseline", "b4", "force", /Unrecognized key|unknown/) },
];

// ------------------------------------------------------------------ engine previews

export interface EnginePreview {
  id: string;
  what: string;
  categories: Category[];
  config: (host: HostEntry) => Record<string, unknown>;
  expect: (host: HostEntry) => Expectation[];
}

/** Several problems per preview: each engine run costs 10-20 s, the parser's table above has every case. */
export const ENGINE_PREVIEWS: EnginePreview[] = [
  {
    id: "ufw-and-host",
    what: "six bad ufw rules, a host entry without hostKey and with an unknown field, a misspelt top-level key",
    categories: ["port", "port-range", "protocol", "address", "long", "hostile", "host-key", "unknown-key"],
    config: (host) => ({
      hosts: [{ name: host.name, address: host.address, colour: "blue" }],
      fail2bann: { defaults: { maxretry: 2 } },
      ufw: {
        extraRules: [
          rule({ port: 65536 }),
          rule({ port: "2000:1000" }),
          rule({ port: 9101, protocol: "icmp" }),
          rule({ port: 9102, from: "198.51.100.0/24", to: "2001:db8::/64" }),
          rule({ port: 9103, comment: long(10_000) }),
          rule({ port: 9104, comment: "ssh'; reboot; '" }),
        ],
      },
    }),
    expect: (host) => [
      { host: host.name, resource: CONFIG, field: "hosts[0].hostKey", says: /hostKey is missing/ },
      { host: host.name, resource: CONFIG, field: "hosts[0].colour", says: /Unrecognized key|unknown/ },
      { host: ALL, resource: CONFIG, field: "fail2bann", says: /Unrecognized key|unknown/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[0].port", says: /1 to 65535/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[1].port", says: /low to high/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[2].protocol", says: /one of tcp, udp, any/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[3].to", says: /one IP family/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[4].comment", says: /10000 characters long/ },
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[5].comment", says: /not allowed/ },
    ],
  },
  {
    id: "fail2ban",
    what: "bad fail2ban defaults, jails and filters",
    categories: ["maxretry", "duration", "hostile", "traversal", "regex"],
    config: (host) =>
      config(host, {
        fail2ban: {
          defaults: { maxretry: 0, bantime: "1y" },
          jails: [{ name: "sshd]\n[evil" }, { name: "proxmox", logpath: ["/var/log/../../etc/shadow"] }],
          filters: [{ name: "../../../etc/cron.d/x", failregex: ["^authentication failure$"], samples: { match: ["authentication failure"] } }],
        },
      }),
    expect: () => [
      { host: ALL, resource: CONFIG, field: "fail2ban.defaults.maxretry", says: /at least 1/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.defaults.bantime", says: /time abbreviations/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.jails[0].name", says: /letters, digits/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.jails[1].logpath[0]", says: /no '\.' or '\.\.' segments/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.filters[0].name", says: /letters, digits/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.filters[0].failregex[0]", says: /must capture the offender/ },
    ],
  },
  {
    id: "no-hosts",
    what: "an empty host list",
    categories: ["hosts"],
    config: () => ({ hosts: [] }),
    expect: () => [{ host: ALL, resource: CONFIG, field: "hosts", says: /at least one host/ }],
  },
  {
    id: "duplicates-and-lockout",
    what: "a repeated rule, two jails named sshd, a deny on 22 before its allow, a second host whose SSH port 2222 has no rule",
    categories: ["duplicate", "lockout"],
    config: (host) => ({
      hosts: [host, { name: "pve2", address: host.address, port: 2222, hostKey: host.hostKey }],
      ufw: { rules: [{ action: "deny", protocol: "any", port: 22 }, rule({ port: 22 }), rule({ port: 8006 })], extraRules: [rule({ port: 8006, comment: "again" })] },
      fail2ban: { jails: [{ name: "sshd" }, { name: "sshd", maxretry: 2 }] },
    }),
    expect: (host) => [
      { host: ALL, resource: CONFIG, field: "ufw.extraRules[0]", says: /same match as another rule/ },
      { host: ALL, resource: CONFIG, field: "fail2ban.jails[1].name", says: /jail name repeats/ },
      { host: host.name, resource: CONFIG, field: "hosts[0].port", says: /first matching rule/ },
      { host: "pve2", resource: CONFIG, field: "hosts[1].port", says: /no IPv4 rule allowing tcp port 2222/ },
    ],
  },
];

/** Figures for the report: counted from the tables, so the document cannot drift from them. */
export function inputFigures() {
  const byCategory = Object.fromEntries(
    (Object.keys(CATEGORIES) as Category[]).map((category) => [
      category,
      {
        config: CONFIG_CASES.filter((c) => c.category === category).length,
        resource: RESOURCE_CASES.filter((c) => c.category === category).length,
        engine: ENGINE_PREVIEWS.filter((p) => p.categories.includes(category)).length,
      },
    ]),
  ) as Record<Category, { config: number; resource: number; engine: number }>;
  return {
    configCases: CONFIG_CASES.length,
    resourceCases: RESOURCE_CASES.length,
    enginePreviews: ENGINE_PREVIEWS.length,
    byCategory,
  };
}
