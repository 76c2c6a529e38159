// Schemas, renderers and the pure logic of the fail2ban resources.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { everyOtherJailOption } from "../support/jail-options";
import { z } from "zod";
import { diffInputs } from "../../providers/core/diff";
import { validate } from "../../providers/core/validate";
import {
  chooseBackend,
  DEFAULTS_PATH,
  filterPath,
  FILTER_REPLACE_KEYS,
  filterTarget,
  owningPackageScript,
  isManagedFile,
  JAIL_REPLACE_KEYS,
  jailPath,
  MANAGED_HEADER,
  renderDefaults,
  renderFilter,
  renderFilterRef,
  renderJail,
  sampleCheckArgs,
  sampleCheckProblems,
  samplesFileContent,
} from "../../providers/fail2ban/logic";
import {
  Fail2banDefaults,
  Fail2banFilter,
  Fail2banJail,
  parseDuration,
  proxmoxFilterDefaults,
  referenceDefaults,
  referenceProxmoxJail,
  referenceSshdJail,
} from "../../providers/fail2ban/schema";

const fixtures = join(__dirname, "../fixtures/fail2ban");
const context = { host: "pve1", resource: "fail2ban test" };

/** Messages of a failed validation, or "ok". */
function problems(schema: z.ZodType, raw: unknown): string {
  const result = validate(schema, raw, context);
  return result.ok ? "ok" : result.failures.map((f) => f.reason).join("\n");
}

function parsed<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = validate(schema, raw, context);
  if (!result.ok) assert.fail(result.failures.map((f) => f.reason).join("\n"));
  return result.value;
}

const validFilter = {
  name: "myapp",
  failregex: "^login failed from <HOST>$",
  samples: { match: ["Nov 25 13:40:01 host myapp[1]: login failed from 192.0.2.1"] },
};

describe("durations", () => {
  const cases: [unknown, number | string][] = [
    [3600, 3600],
    ["3600", 3600],
    ["10m", 600],
    ["1h30m", 5400],
    ["1d 12h", 129600],
    ["1w", 604800],
    ["1w2d3h4m5s", 788645],
    ["366d", 31622400],
    [0, "at least 1 second"],
    [-5, "at least 1 second"],
    ["367d", "at most 366 days"],
    [1e12, "at most 366 days"],
    [3.5, "whole seconds"],
    ["1x", "whole seconds"],
    ["1h30", "whole seconds"],
    ["30m1h", "whole seconds"],
    ["1.5h", "whole seconds"],
    ["1y", "whole seconds"],
    ["-1", "whole seconds"],
    ["", "whole seconds"],
    [" 1h", "whole seconds"],
    ["1h ", "whole seconds"],
    ["1h  30m", "whole seconds"],
    ["__import__('os').system('id')", "whole seconds"],
    ["99999999999", "whole seconds"],
    [null, "whole seconds"],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} -> ${expected}`, () => {
      const result = parseDuration(input);
      if (typeof expected === "number") assert.equal(result, expected);
      else assert.match(String(result), new RegExp(expected.replace(/[()]/g, "\\$&")));
    });
  }
});

describe("Fail2banJail schema", () => {
  test("a bare name gets the defaults: enabled, backend auto, the filter named like the jail", () => {
    assert.deepEqual(parsed(Fail2banJail, { name: "sshd" }), { name: "sshd", enabled: true, backend: "auto", filter: { name: "sshd" } });
  });

  test("normalizes durations, ports and permanent bans", () => {
    const jail = parsed(Fail2banJail, { name: "web", port: "80,443", bantime: "permanent", findtime: "1h30m", maxretry: 5 });
    assert.deepEqual(jail.port, ["80", "443"]);
    assert.equal(jail.bantime, -1);
    assert.equal(jail.findtime, 5400);
  });

  const valid: [string, Record<string, unknown>][] = [
    ["port number", { port: 22 }],
    ["port service", { port: "ssh" }],
    ["port list", { port: ["http", "https", 8006] }],
    ["port range", { port: "60000:60050" }],
    ["15 ports", { port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15" }],
    ["ignoreip v4/v6 and CIDRs", { ignoreip: ["192.0.2.0/24", "2001:db8::/32", "10.0.0.1", "::1", "0.0.0.0/0"] }],
    ["logpath with glob", { logpath: ["/var/log/auth.log", "/var/log/nginx/*error.log", "/var/log/app-?.log"] }],
    ["systemd with journalmatch", { backend: "systemd", journalmatch: "_SYSTEMD_UNIT=ssh.service + _COMM=sshd" }],
    ["polling with logpath", { backend: "polling", logpath: ["/var/log/auth.log"] }],
    ["filter options", { filter: { name: "sshd", mode: "aggressive", _daemon: "sshd(?:-session)?" } }],
    ["protocol all with allports", { protocol: "all", banaction: "iptables-allports" }],
    ["increment", { bantimeIncrement: { factor: 2, maxtime: "1w", rndtime: "5m", multipliers: [1, 2, 4], overalljails: true } }],
    ["mail action", { action: "action_mw", destemail: "root@example.org", sender: "fail2ban@example.org" }],
    ["every banaction", { banaction: "nftables-multiport", banaction_allports: "nftables-allports", usedns: "no", chain: "PVEFW-INPUT" }],
    ["24-character name", { name: "a".repeat(24) }],
    ["disabled", { enabled: false }],
  ];
  for (const [label, fields] of valid) {
    test(`accepts ${label}`, () => assert.equal(problems(Fail2banJail, { name: "sshd", ...fields }), "ok"));
  }

  const invalid: [string, Record<string, unknown>, string][] = [
    ["path traversal in name", { name: "../etc/passwd" }, "letters, digits"],
    ["slash in name", { name: "a/b" }, "letters, digits"],
    ["dot in name", { name: "sshd.local" }, "letters, digits"],
    ["space in name", { name: "ss h" }, "letters, digits"],
    ["shell in name", { name: "sshd;rm -rf /" }, "letters, digits"],
    ["command substitution in name", { name: "ssh$(id)" }, "letters, digits"],
    ["section injection in name", { name: "sshd]\n[evil" }, "letters, digits"],
    ["brackets in name", { name: "[sshd]" }, "letters, digits"],
    ["empty name", { name: "" }, "letters, digits"],
    ["leading dash", { name: "-sshd" }, "letters, digits"],
    ["non-ASCII name", { name: "jäil" }, "letters, digits"],
    ["25-character name (iptables chain f2b-<name>)", { name: "a".repeat(25) }, "1-24 characters"],
    ["reserved DEFAULT", { name: "DEFAULT" }, "reserved section names"],
    ["reserved default, any case", { name: "default" }, "reserved section names"],
    ["reserved Definition", { name: "Definition" }, "reserved section names"],
    ["reserved INCLUDES", { name: "INCLUDES" }, "reserved section names"],
    ["port with shell", { port: "ssh;true" }, "must be a port 1-65535"],
    ["port with space", { port: "22 23" }, "must be a port 1-65535"],
    ["port 0", { port: 0 }, "must be a port 1-65535"],
    ["port 65536", { port: 65536 }, "must be a port 1-65535"],
    ["port with a leading zero (iptables reads 022 as octal)", { port: "022" }, "without leading zeros"],
    ["port 08 (not octal at all)", { port: "08" }, "without leading zeros"],
    ["port range with a leading zero", { port: "00:100" }, "without leading zeros"],
    ["port range reversed", { port: "100:50" }, "low < high"],
    ["port range too high", { port: "70000:80000" }, "low < high"],
    ["upper-case service", { port: "SSH" }, "service name"],
    ["port twice", { port: "22,22" }, "twice"],
    ["16 ports", { port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16" }, "at most 15 ports"],
    ["8 ranges", { port: Array.from({ length: 8 }, (_, i) => `${i * 10 + 1}:${i * 10 + 5}`) }, "at most 15 ports"],
    ["bantime -1", { bantime: -1 }, 'write "permanent"'],
    ["bantime zero", { bantime: 0 }, "at least 1 second"],
    ["bantime python", { bantime: "__import__('os')" }, "fail2ban time abbreviations"],
    ["findtime permanent", { findtime: "permanent" }, "findtime must be whole seconds"],
    ["maxretry 0", { maxretry: 0 }, "at least 1"],
    ["maxretry fraction", { maxretry: 1.5 }, "integer"],
    ["maxretry string", { maxretry: "3" }, "integer"],
    ["maxretry huge", { maxretry: 1001 }, "at most 1000"],
    ["ignoreip host name", { ignoreip: ["example.com"] }, "host names are not accepted"],
    ["ignoreip two in one", { ignoreip: ["192.0.2.1 192.0.2.2"] }, "IPv4 or IPv6"],
    ["ignoreip zone id", { ignoreip: ["fe80::1%eth0"] }, "IPv4 or IPv6"],
    ["ignoreip /33", { ignoreip: ["192.0.2.0/33"] }, "0-32"],
    ["ignoreip /129", { ignoreip: ["2001:db8::/129"] }, "0-128"],
    ["ignoreip double prefix", { ignoreip: ["192.0.2.0/24/8"] }, "IPv4 or IPv6"],
    ["ignoreip short", { ignoreip: ["1.2.3"] }, "IPv4 or IPv6"],
    ["ignoreip as string", { ignoreip: "127.0.0.1" }, "must be a list"],
    ["ignoreip too many", { ignoreip: Array.from({ length: 65 }, (_, i) => `10.0.0.${i}`) }, "at most 64"],
    ["relative logpath", { logpath: ["var/log/auth.log"] }, "absolute paths"],
    ["logpath traversal", { logpath: ["/var/log/../../etc/shadow"] }, "'..' segments"],
    ["logpath dot segment", { logpath: ["/var/./log/x"] }, "'..' segments"],
    ["logpath space", { logpath: ["/var/log/a b.log"] }, "no spaces"],
    ["logpath newline", { logpath: ["/var/log/x\n[evil]"] }, "absolute paths"],
    ["logpath shell", { logpath: ["/var/log/$(id)"] }, "absolute paths"],
    ["logpath with @ or :", { logpath: ["/var/log/a@b:c.log"] }, "absolute paths"],
    ["logpath root only", { logpath: ["/"] }, "absolute paths"],
    ["logpath empty list", { logpath: [] }, "at least one path"],
    ["logpath very long", { logpath: ["/" + "a".repeat(300)] }, "at most 255"],
    ["unknown backend", { backend: "gamin" }, "backend must be one of auto, pyinotify, polling, systemd"],
    ["systemd with logpath", { backend: "systemd", logpath: ["/var/log/auth.log"] }, "not read with backend systemd"],
    ["polling without logpath", { backend: "polling" }, "set logpath"],
    ["journalmatch trailing +", { journalmatch: "_SYSTEMD_UNIT=ssh.service +" }, '"+" must stand between two terms'],
    ["journalmatch leading +", { journalmatch: "+ _COMM=sshd" }, '"+" must stand between'],
    ["journalmatch double +", { journalmatch: "_COMM=a + + _COMM=b" }, '"+" must stand between'],
    ["journalmatch lower-case field", { journalmatch: "comm=sshd" }, "FIELD=value"],
    ["journalmatch address field", { journalmatch: "__CURSOR=x" }, "FIELD=value"],
    ["journalmatch quotes", { journalmatch: '_COMM="sshd"' }, "value of _COMM"],
    ["journalmatch percent", { journalmatch: "_COMM=ssh%d" }, "value of _COMM"],
    ["journalmatch empty value", { journalmatch: "_COMM=" }, "value of _COMM"],
    ["journalmatch newline", { journalmatch: "_COMM=sshd\n[evil]" }, "value of _COMM"],
    ["journalmatch double space", { journalmatch: "_COMM=sshd  + _COMM=x" }, "single spaces"],
    ["filter traversal", { filter: { name: "../../tmp/x" } }, "filter name must be"],
    ["filter unknown option", { filter: { name: "sshd", logtype: "file" } }, "only name, mode and _daemon"],
    ["filter bad mode", { filter: { name: "sshd", mode: "evil" } }, "filter mode must be one of"],
    ["filter _daemon not compiling", { filter: { name: "sshd", _daemon: "sshd(?:-session" } }, "does not compile"],
    ["filter _daemon with quote", { filter: { name: "sshd", _daemon: 'x"]' } }, "quotes"],
    ["filter _daemon with percent", { filter: { name: "sshd", _daemon: "sshd%(x)s" } }, "quotes or '%'"],
    ["filter _daemon newline", { filter: { name: "sshd", _daemon: "sshd\n[x]" } }, "newlines"],
    ["unknown option", { foo: 1 }, "unknown jail option(s): foo"],
    ["dotted fail2ban option", { "bantime.increment": true }, "unknown jail option(s): bantime.increment"],
    ["protocol all without allports", { protocol: "all" }, "allports banaction"],
    ["protocol icmp", { protocol: "icmp" }, "tcp, udp or all"],
    ["unknown banaction", { banaction: "nosuchaction" }, "banaction must be one of"],
    ["banaction with shell", { banaction: "iptables-multiport;id" }, "banaction must be one of"],
    ["mail without destemail", { action: "action_mw" }, "set destemail"],
    ["destemail with newline", { action: "action_mw", destemail: "root@example.org\nx" }, "e-mail"],
    ["sender with space", { sender: "a b@example.org" }, "e-mail"],
    ["chain with shell", { chain: "INPUT;id" }, "iptables chain name"],
    ["chain too long", { chain: "a".repeat(29) }, "iptables chain name"],
    ["enabled as string", { enabled: "yes" }, "true or false"],
    ["increment unknown key", { bantimeIncrement: { formula: "ban.Time * 2" } }, "bantimeIncrement accepts"],
    ["increment zero factor", { bantimeIncrement: { factor: 0 } }, "positive"],
  ];
  for (const [label, fields, message] of invalid) {
    test(`rejects ${label}`, () => {
      const out = problems(Fail2banJail, { name: "sshd", ...fields });
      assert.notEqual(out, "ok");
      assert.ok(out.includes(message), `expected "${message}" in:\n${out}`);
      assert.ok(out.includes("host pve1, resource fail2ban test, field "), out);
    });
  }

  test("a failure names the field", () => {
    assert.match(problems(Fail2banJail, { name: "sshd", ignoreip: ["::1", "nope"] }), /field ignoreip\[1\]/);
    assert.match(problems(Fail2banJail, { name: "sshd", backend: "systemd", logpath: ["/x"] }), /field logpath\] logpath is not read/);
  });

  test("a non-object is refused with a message", () => {
    assert.match(problems(Fail2banJail, "sshd"), /jail must be an object/);
  });
});

describe("Fail2banFilter schema", () => {
  test("a single failregex becomes a list; ignoreregex and noMatch default to empty", () => {
    const filter = parsed(Fail2banFilter, validFilter);
    assert.deepEqual(filter.failregex, ["^login failed from <HOST>$"]);
    assert.deepEqual(filter.ignoreregex, []);
    assert.deepEqual(filter.samples.noMatch, []);
  });

  const valid: [string, Record<string, unknown>][] = [
    ["several failregex", { failregex: ["^a <HOST>$", "^b <ADDR>$", "^c <F-ID>\\S+</F-ID>$", "^d <IP4>", "^e <IP6>", "^f <SUBNET>"] }],
    ["percent in a regex", { failregex: "^100% failed from <HOST>$" }],
    ["host in prefregex only", { prefregex: "^<HOST> <F-CONTENT>.+</F-CONTENT>$", failregex: "^login failed$" }],
    ["python named groups and backreference", { failregex: "^(?P<user>\\w+) failed from <HOST> as (?P=user)$" }],
    ["python inline flag", { failregex: "(?i)^LOGIN FAILED from <HOST>$" }],
    ["ignoreregex", { ignoreregex: ["user=backup@pbs"] }],
    ["datepattern strptime", { datepattern: "^%Y-%m-%d %H:%M:%S" }],
    ["datepattern keyword", { datepattern: "{^LN-BEG}" }],
    ["datepattern epoch", { datepattern: "EPOCH" }],
    ["datepattern fail2ban directives", { datepattern: "{^LN-BEG}%ExY-%Exm-%Exd %ExH:%ExM:%ExS" }],
    ["journalmatch", { journalmatch: "SYSLOG_IDENTIFIER=myapp" }],
    ["samples", { samples: { match: ["a 192.0.2.1"], noMatch: ["b"] } }],
  ];
  for (const [label, fields] of valid) {
    test(`accepts ${label}`, () => assert.equal(problems(Fail2banFilter, { ...validFilter, ...fields }), "ok"));
  }

  const invalid: [string, Record<string, unknown>, string][] = [
    ["a stock filter name", { name: "sshd" }, "filter fail2ban ships"],
    ["common.conf's name", { name: "common" }, "filter fail2ban ships"],
    ["traversal", { name: "../../etc/cron.d/x" }, "letters, digits"],
    ["extension", { name: "x.conf" }, "letters, digits"],
    ["reserved", { name: "Init" }, "reserved section names"],
    ["no failregex", { failregex: [] }, "at least one regex"],
    ["empty failregex", { failregex: "" }, "must not be empty"],
    ["failregex without a host", { failregex: "^login failed$" }, "must capture the offender"],
    ["failregex with only <CIDR>", { failregex: "^blocked /<CIDR>$" }, "must capture the offender"],
    ["unbalanced parenthesis", { failregex: "rhost=(<HOST>" }, "missing ), unterminated subpattern"],
    ["newline injecting a section", { failregex: "rhost=<HOST>\n[Definition]\nfailregex = .*" }, "newlines"],
    ["carriage return", { failregex: "rhost=<HOST>\r" }, "newlines"],
    ["tab", { failregex: "rhost=\t<HOST>" }, "control characters"],
    ["NUL", { failregex: "rhost=<HOST>\u0000" }, "control characters"],
    ["unicode line separator", { failregex: "rhost=<HOST>\u2028x" }, "control characters"],
    ["inline comment", { failregex: "rhost=<HOST> ;user=" }, "inline comment"],
    ["comment start", { failregex: "#rhost=<HOST>" }, "start with '#'"],
    ["semicolon start", { failregex: ";rhost=<HOST>" }, "start with '#' or ';'"],
    ["leading whitespace", { failregex: " rhost=<HOST>" }, "start or end with whitespace"],
    ["trailing whitespace", { failregex: "rhost=<HOST> " }, "start or end with whitespace"],
    ["two hosts", { failregex: "<HOST> <HOST>" }, "redefinition of group name 'ip4'"],
    ["JS named group", { failregex: "(?<user>\\w+) <HOST>" }, "(?P<name>...)"],
    ["unknown escape", { failregex: "\\q <HOST>" }, "bad escape \\q"],
    ["variable look-behind", { failregex: "(?<=a+)<HOST>" }, "fixed-width"],
    ["verbose flag", { failregex: "(?x)<HOST>" }, "verbose flag"],
    ["late global flag", { failregex: "<HOST>(?i)x" }, "global flags not at the start"],
    ["very long", { failregex: "^" + "a".repeat(1000) + "<HOST>" }, "at most 1000 characters"],
    ["shell metacharacters stay regex text, but must compile", { failregex: "$(reboot) `id` <HOST> | (" }, "missing )"],
    ["ignoreregex not compiling", { ignoreregex: ["(unclosed"] }, "ignoreregex does not compile"],
    ["prefregex not compiling", { prefregex: "[" }, "unterminated character set"],
    ["unknown date directive", { datepattern: "%Q" }, "unknown date directive %Q"],
    ["repeated date directive", { datepattern: "%H:%M %H" }, "only once"],
    ["datepattern not compiling", { datepattern: "(%Y" }, "does not compile"],
    ["datepattern newline", { datepattern: "%Y\n[x]" }, "newlines"],
    ["journalmatch garbage", { journalmatch: "not a match" }, "FIELD=value"],
    ["no samples", { samples: undefined }, "samples must be"],
    ["no match sample", { samples: { match: [] } }, "at least one log line"],
    ["sample with newline", { samples: { match: ["a 192.0.2.1\nb"] } }, "one log line"],
    ["padded sample", { samples: { match: ["  a 192.0.2.1"] } }, "whitespace"],
    ["comment sample", { samples: { match: ["# a 192.0.2.1"] } }, "start with '#'"],
    ["sample in both lists", { samples: { match: ["x 192.0.2.1"], noMatch: ["x 192.0.2.1"] } }, "both match and noMatch"],
    ["unknown sample key", { samples: { match: ["x"], maybe: [] } }, "only match and noMatch"],
    ["too many samples", { samples: { match: Array.from({ length: 101 }, (_, i) => `x ${i}`) } }, "at most 100 lines"],
    ["very long sample", { samples: { match: ["x".repeat(4097)] } }, "at most 4096"],
    ["unknown option", { maxlines: 2 }, "unknown filter option(s): maxlines"],
  ];
  for (const [label, fields, message] of invalid) {
    test(`rejects ${label}`, () => {
      const out = problems(Fail2banFilter, { ...validFilter, ...fields });
      assert.notEqual(out, "ok");
      assert.ok(out.toLowerCase().includes(message.toLowerCase()), `expected "${message}" in:\n${out}`);
    });
  }
});

describe("Fail2banDefaults schema", () => {
  test("{} is the reference procedure", () => {
    assert.deepEqual(parsed(Fail2banDefaults, {}), { bantime: 3600, findtime: 300, maxretry: 3, ignoreip: ["127.0.0.1/8", "::1"], backend: "auto" });
    assert.deepEqual(referenceDefaults, parsed(Fail2banDefaults, {}));
  });

  test("accepts overrides", () => {
    const d = parsed(Fail2banDefaults, { bantime: "permanent", findtime: "10m", banaction: "ufw", backend: "systemd", ignoreip: [] });
    assert.equal(d.bantime, -1);
    assert.equal(d.findtime, 600);
    assert.deepEqual(d.ignoreip, []);
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ["unknown option", { port: 22 }, "unknown fail2ban default option(s): port"],
    ["bad backend", { backend: "gamin" }, "backend must be one of"],
    ["bad bantime", { bantime: "1x" }, "bantime must be"],
    ["bad ignoreip", { ignoreip: ["x"] }, "ignoreip"],
    ["maxretry 0", { maxretry: 0 }, "at least 1"],
  ];
  for (const [label, fields, message] of invalid) {
    test(`rejects ${label}`, () => assert.ok(problems(Fail2banDefaults, fields).includes(message)));
  }
});

describe("generated config reference", () => {
  // Every field is described and the defaults show: the reference is generated from these schemas.
  function undescribed(node: unknown, path: string): string[] {
    if (!node || typeof node !== "object") return [];
    const schema = node as { properties?: Record<string, { description?: string }> };
    return Object.entries(schema.properties ?? {}).flatMap(([key, child]) => [
      ...(child.description ? [] : [`${path}.${key}`]),
      ...undescribed(child, `${path}.${key}`),
    ]);
  }
  for (const [name, schema] of Object.entries({ Fail2banJail, Fail2banFilter, Fail2banDefaults })) {
    test(`${name}: every field has a description`, () => {
      const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
      assert.ok(json.description);
      assert.deepEqual(undescribed(json, name), []);
    });
  }
  test("the reference defaults appear as defaults", () => {
    const json = z.toJSONSchema(Fail2banDefaults, { io: "input" }) as { properties: Record<string, { default?: unknown }> };
    assert.equal(json.properties.bantime!.default, 3600);
    assert.equal(json.properties.findtime!.default, 300);
    assert.equal(json.properties.maxretry!.default, 3);
    assert.deepEqual(json.properties.ignoreip!.default, ["127.0.0.1/8", "::1"]);
  });
});

describe("renderers", () => {
  // The golden files are written by hand from the reference procedure (README), not by these renderers.
  const referenceFiles: Record<string, string> = {
    "proxmox.conf": renderFilter(proxmoxFilterDefaults),
    "defaults.systemd.local": renderDefaults(referenceDefaults, "systemd"),
    "defaults.auto.local": renderDefaults(referenceDefaults, "auto"),
    "jail-sshd.systemd.local": renderJail(referenceSshdJail, "systemd"),
    "jail-sshd.auto.local": renderJail(referenceSshdJail, "auto"),
    "jail-proxmox.systemd.local": renderJail(referenceProxmoxJail, "systemd"),
    "jail-proxmox.auto.local": renderJail(referenceProxmoxJail, "auto"),
  };
  test("every golden file has its renderer output", () => {
    assert.deepEqual(Object.keys(referenceFiles).sort(), readdirSync(join(fixtures, "rendered")).sort());
  });
  for (const [name, content] of Object.entries(referenceFiles)) {
    test(`reference file ${name} is byte for byte the golden one`, () => {
      assert.equal(content, readFileSync(join(fixtures, "rendered", name), "utf8"));
    });
  }

  test("renderFilter: several regexes as continuation lines, % doubled, optional keys", () => {
    const filter = parsed(Fail2banFilter, {
      ...validFilter,
      failregex: ["^a <HOST>$", "^b 100% <ADDR>$"],
      ignoreregex: ["x%y", "z"],
      prefregex: "^<F-CONTENT>.+</F-CONTENT>$",
      datepattern: "^%Y-%m-%d",
      journalmatch: "SYSLOG_IDENTIFIER=myapp + _COMM=myapp",
    });
    assert.equal(
      renderFilter(filter),
      [
        MANAGED_HEADER,
        '# fail2ban filter "myapp"',
        "",
        "[Definition]",
        "failregex = ^a <HOST>$",
        "            ^b 100%% <ADDR>$",
        "ignoreregex = x%%y",
        "              z",
        "prefregex = ^<F-CONTENT>.+</F-CONTENT>$",
        "datepattern = ^%%Y-%%m-%%d",
        "journalmatch = SYSLOG_IDENTIFIER=myapp + _COMM=myapp",
        "",
      ].join("\n"),
    );
  });

  test("renderJail: every option, file backend", () => {
    const jail = parsed(Fail2banJail, {
      name: "web",
      enabled: false,
      port: ["http", "https", "8000:8010"],
      protocol: "tcp",
      filter: { name: "nginx-http-auth", mode: "aggressive" },
      logpath: ["/var/log/nginx/*error.log", "/var/log/nginx/other.log"],
      journalmatch: "_SYSTEMD_UNIT=nginx.service",
      bantimeIncrement: { factor: 2, maxtime: "1w", rndtime: 300, multipliers: [1, 2, 4], overalljails: true },
      ...everyOtherJailOption,
    });
    assert.equal(
      renderJail(jail, "polling"),
      [
        MANAGED_HEADER,
        '# fail2ban jail "web"',
        "",
        "[web]",
        "enabled = false",
        'filter = nginx-http-auth[mode="aggressive"]',
        "port = http,https,8000:8010",
        "protocol = tcp",
        "backend = polling",
        "logpath = /var/log/nginx/*error.log",
        "          /var/log/nginx/other.log",
        "bantime = 86400",
        "findtime = 600",
        "maxretry = 5",
        "ignoreip = 192.0.2.0/24 2001:db8::1",
        "banaction = nftables-multiport",
        "banaction_allports = nftables-allports",
        "usedns = no",
        "chain = INPUT",
        "bantime.increment = true",
        "bantime.factor = 2",
        "bantime.maxtime = 604800",
        "bantime.rndtime = 300",
        "bantime.multipliers = 1 2 4",
        "bantime.overalljails = true",
        "action = %(action_mwl)s",
        "destemail = root@example.org",
        "sender = fail2ban@example.org",
        "",
      ].join("\n"),
    );
  });

  test("renderJail: the systemd backend writes journalmatch and no logpath", () => {
    const out = renderJail(referenceSshdJail, "systemd");
    assert.match(out, /^backend = systemd$/m);
    assert.match(out, /^journalmatch = _SYSTEMD_UNIT=ssh\.service \+ _SYSTEMD_UNIT=sshd\.service \+ _COMM=sshd \+ _COMM=sshd-session$/m);
    assert.doesNotMatch(out, /logpath/);
  });

  test("renderJail: a file backend without logpath is a programming error", () => {
    assert.throws(() => renderJail(parsed(Fail2banJail, { name: "x" }), "auto"), /no logpath/);
  });

  test("renderDefaults: permanent bans are fail2ban's -1; an empty ignoreip is written empty", () => {
    const out = renderDefaults(parsed(Fail2banDefaults, { bantime: "permanent", ignoreip: [], banaction: "ufw" }), "systemd");
    assert.equal(
      out,
      [MANAGED_HEADER, "# fail2ban defaults for every jail", "", "[DEFAULT]", "bantime = -1", "findtime = 300", "maxretry = 3", "ignoreip =", "backend = systemd", "banaction = ufw", ""].join("\n"),
    );
  });

  test("renderFilterRef quotes options in extractOptions syntax", () => {
    assert.equal(renderFilterRef({ name: "sshd" }), "sshd");
    assert.equal(renderFilterRef({ name: "sshd", mode: "ddos", _daemon: "sshd(?:-session)?" }), 'sshd[mode="ddos", _daemon="sshd(?:-session)?"]');
  });

  test("every rendered file starts with the managed header", () => {
    for (const content of Object.values(referenceFiles)) assert.ok(isManagedFile(content));
    assert.equal(isManagedFile("[sshd]\nenabled = true\n"), false);
    assert.equal(isManagedFile(`# ${MANAGED_HEADER}\n`), false);
  });

  test("file paths: one file per resource, names validated before they get here", () => {
    assert.equal(filterPath("proxmox"), "/etc/fail2ban/filter.d/proxmox.conf");
    assert.equal(jailPath("sshd"), "/etc/fail2ban/jail.d/proxmox-hardening-jail-sshd.local");
    assert.equal(DEFAULTS_PATH, "/etc/fail2ban/jail.d/proxmox-hardening-defaults.local");
    // A jail named "defaults" cannot collide with the [DEFAULT] file.
    assert.notEqual(jailPath("defaults"), DEFAULTS_PATH);
  });

  test("a filter whose .conf a package ships goes to the .local next to it; otherwise to its .conf", () => {
    assert.deepEqual(filterTarget("proxmox", ""), { path: "/etc/fail2ban/filter.d/proxmox.conf" });
    assert.deepEqual(filterTarget("proxmox", "fail2ban\n"), { path: "/etc/fail2ban/filter.d/proxmox.local", package: "fail2ban" });
  });

  test("the package owning a file, read from this machine's dpkg database (conffiles included)", { skip: !existsSync("/etc/fail2ban/filter.d/sshd.conf") && "fail2ban not installed" }, () => {
    const owner = (path: string) => execFileSync("sh", ["-c", owningPackageScript(path)], { encoding: "utf8" });
    assert.equal(owner("/etc/fail2ban/filter.d/sshd.conf"), "fail2ban\n");
    assert.equal(owner("/etc/fail2ban/filter.d/no-such-filter.conf"), "");
    assert.deepEqual(filterTarget("sshd", owner("/etc/fail2ban/filter.d/sshd.conf")).path, "/etc/fail2ban/filter.d/sshd.local");
  });
});

describe("reference procedure", () => {
  test("proxmox filter, sshd and proxmox jails, [DEFAULT] values", () => {
    assert.equal(proxmoxFilterDefaults.name, "proxmox");
    assert.equal(proxmoxFilterDefaults.journalmatch, "SYSLOG_IDENTIFIER=pvedaemon");
    assert.deepEqual(referenceProxmoxJail.port, ["8006"]);
    assert.deepEqual(referenceProxmoxJail.filter, { name: "proxmox" });
    assert.deepEqual(referenceSshdJail.filter, { name: "sshd", _daemon: "sshd(?:-session)?" });
    assert.deepEqual([referenceDefaults.bantime, referenceDefaults.findtime, referenceDefaults.maxretry], [3600, 300, 3]);
  });

  test("the proxmox filter's default samples come from the shared sample files", () => {
    const failures = readFileSync(join(fixtures, "samples/pvedaemon-failures.lines"), "utf8").split("\n");
    const others = readFileSync(join(fixtures, "samples/pve-not-failures.lines"), "utf8").split("\n");
    for (const line of proxmoxFilterDefaults.samples.match) assert.ok(failures.includes(line), line);
    for (const line of proxmoxFilterDefaults.samples.noMatch) assert.ok(others.includes(line), line);
  });
});

describe("chooseBackend", () => {
  const cases: [string, Parameters<typeof chooseBackend>[0], string][] = [
    ["auto, log file present", { requested: "auto", logpathExists: true, journalAvailable: true }, "auto"],
    ["auto, no log file (PVE 8+)", { requested: "auto", logpathExists: false, journalAvailable: true }, "systemd"],
    ["auto, nothing", { requested: "auto", logpathExists: false, journalAvailable: false }, "error: neither a log file"],
    ["systemd requested, journal present", { requested: "systemd", logpathExists: true, journalAvailable: true }, "systemd"],
    ["systemd requested, no journal", { requested: "systemd", logpathExists: true, journalAvailable: false }, "error: the systemd journal"],
    ["polling requested, file present", { requested: "polling", logpathExists: true, journalAvailable: true }, "polling"],
    ["pyinotify requested, no file", { requested: "pyinotify", logpathExists: false, journalAvailable: true }, "error: backend pyinotify needs"],
  ];
  for (const [label, facts, expected] of cases) {
    test(label, () => {
      const choice = chooseBackend(facts);
      assert.ok(choice.ok ? choice.backend === expected : expected.startsWith("error: ") && choice.problem.startsWith(expected.slice(7)), JSON.stringify(choice));
    });
  }
  test("a refusal says what to do", () => {
    const choice = chooseBackend({ requested: "systemd", logpathExists: false, journalAvailable: false });
    assert.ok(!choice.ok && /python3-systemd/.test(choice.hint));
  });
});

describe("sample check", () => {
  const samples = { match: ["a 192.0.2.1", "b 192.0.2.2"], noMatch: ["c"] };

  test("the samples file holds one line per sample; fail2ban-regex prints only the matched lines", () => {
    assert.equal(samplesFileContent(samples), "a 192.0.2.1\nb 192.0.2.2\nc\n");
    assert.deepEqual(sampleCheckArgs("/tmp/s", "/tmp/f.conf"), ["--out", "msg", "/tmp/s", "/tmp/f.conf"]);
  });
  test("all good", () => assert.deepEqual(sampleCheckProblems(["a 192.0.2.1", "b 192.0.2.2"], samples), []));
  test("a missed and a wrongly matched line", () => {
    assert.deepEqual(sampleCheckProblems(["a 192.0.2.1", "c"], samples), ["should match but does not: b 192.0.2.2", "should not match but does: c"]);
  });
  test("an answer about something else (e.g. the file name read as one line)", () => {
    assert.deepEqual(sampleCheckProblems([], { match: ["a 192.0.2.1"], noMatch: [] }), ["should match but does not: a 192.0.2.1"]);
    assert.deepEqual(sampleCheckProblems(["a 192.0.2.1", "/tmp/s"], { match: ["a 192.0.2.1"], noMatch: [] }), ["matched a line that is no sample: /tmp/s"]);
  });
});

describe("diff metadata", () => {
  test("a new name replaces (it names the file); anything else updates in place", () => {
    const old = parsed(Fail2banJail, { name: "sshd", maxretry: 3 });
    assert.deepEqual(diffInputs(old, parsed(Fail2banJail, { name: "sshd", maxretry: 4 }), JAIL_REPLACE_KEYS).replaces, []);
    assert.deepEqual(diffInputs(old, parsed(Fail2banJail, { name: "ssh2", maxretry: 3 }), JAIL_REPLACE_KEYS).replaces, ["name"]);
    const filter = parsed(Fail2banFilter, validFilter);
    assert.deepEqual(diffInputs(filter, { ...filter, name: "other" }, FILTER_REPLACE_KEYS).replaces, ["name"]);
  });
  test("equivalent spellings normalize to no change", () => {
    const a = parsed(Fail2banJail, { name: "sshd", bantime: "1h", port: "80,443" });
    const b = parsed(Fail2banJail, { name: "sshd", bantime: 3600, port: [80, 443] });
    assert.equal(diffInputs(a, b, JAIL_REPLACE_KEYS).changes, false);
  });
});
