// The preview-time regex check against fail2ban's own Python, and the rendered files against
// the real fail2ban-regex and fail2ban-client. `npm test`'s setup installs fail2ban
// (sandbox/install-deps.sh): where it is missing these tests fail, they never skip.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { everyOtherJailOption } from "../support/jail-options";
import { checkFail2banRegex, resolveFail2banTags } from "../../providers/fail2ban/pyregex";
import {
  renderFilter,
  renderFilterRef,
  renderJail,
  sampleCheckArgs,
  sampleCheckProblems,
  samplesFileContent,
} from "../../providers/fail2ban/logic";
import { parseConfigTest, parseRegexMatches } from "../../providers/fail2ban/parse";
import {
  BAN_ACTIONS,
  Fail2banFilter,
  Fail2banJail,
  proxmoxFilterDefaults,
  referenceSshdJail,
  STOCK_FILTERS,
} from "../../providers/fail2ban/schema";

const fixtures = join(__dirname, "../fixtures/fail2ban");
// fail2ban's own interpreter: a python3 earlier on PATH (pyenv) would not have its modules.
const PYTHON = "/usr/bin/python3";
const fail2banRegex = "/usr/bin/fail2ban-regex";
const fail2banClient = "/usr/bin/fail2ban-client";

test("fail2ban, its Python modules and Debian's /etc/fail2ban are installed (npm test's setup installs them)", () => {
  assert.deepEqual([fail2banRegex, fail2banClient, PYTHON, "/etc/fail2ban/jail.conf", "/etc/fail2ban/filter.d"].filter((path) => !existsSync(path)), [], "missing: run `npm run setup` (or apt-get install fail2ban)");
  assert.equal(spawnSync(PYTHON, ["-c", "import fail2ban.server.failregex"]).status, 0, "fail2ban's Python modules do not import");
});

const work = mkdtempSync(join(tmpdir(), "fail2ban-test-"));
after(() => rmSync(work, { recursive: true, force: true }));

function lines(name: string): string[] {
  return readFileSync(join(fixtures, "samples", `${name}.lines`), "utf8").split("\n").filter(Boolean);
}

// [regex, null if fail2ban 1.0.2 compiles it, else a part of our error]
const REGEXES: [string, string | null][] = [
  ["^login failed from <HOST>$", null],
  [String.raw`^\s*(?:\S+\s+)?pvedaemon\[\d+\]:\s+authentication failure; rhost=<HOST> user=\S+ msg=.*$`, null],
  ["<HOST> <F-USER>\\S+</F-USER>", null],
  ["<F-ID/> <F-PORT/>", null],
  ["<IP4> <IP6>", null],
  ["<ADDR>/<CIDR>", null],
  ["<SUBNET>", null],
  ["<DNS>", null],
  ["<SKIPLINES><HOST>", null],
  ["</F-USER>x", null],
  ["<F-my-x>a</F-my-x>", null],
  ["<F-MY-X>a</F-MY-X>", "bad character in group name 'my-x'"],
  ["<F-USER>x", "missing ), unterminated subpattern"],
  ["<HOST><HOST>", "redefinition of group name 'ip4'"],
  ["(?P<a>x)(?P<a>y)", "redefinition of group name 'a'"],
  ["(?P<x>a)(?P=x)", null],
  ["(?P<x>a(?P=x))", "cannot refer to an open group"],
  ["(?P=x)", "unknown group name 'x'"],
  ["(?P<1a>x)", "bad character in group name '1a'"],
  ["(?<n>a)", "unknown extension ?<n"],
  ["(a)\\1", null],
  ["(a\\1)", "cannot refer to an open group"],
  ["\\1(a)", "invalid group reference 1"],
  ["\\8", "invalid group reference 8"],
  ["(?(1)a|b)(x)", null],
  ["(?(2)a)(x)", "invalid group reference 2"],
  ["(?(x)a|b)(?P<x>y)", "unknown group name 'x'"],
  ["(?(1)a|b|c)(x)", "more than two branches"],
  ["(?<=a+)b", "look-behind requires fixed-width pattern"],
  ["(?<=ab|c)x", "look-behind requires fixed-width pattern"],
  ["(?<=a{1,2})x", "look-behind requires fixed-width pattern"],
  ["(?<=ab|cd)x", null],
  ["(?<=a{2})x", null],
  ["(?<=\\d{3})x", null],
  ["(?<=\\b)x", null],
  ["(?<=(a))x", null],
  ["(?<=a)*", null],
  ["(?=a)*", null],
  ["(?i)a", null],
  ["(?i)(?m)x", null],
  ["a(?i)b", "global flags not at the start"],
  ["((?i)a)", null],
  ["(?:(?i)a)", null],
  ["x(?:(?i)a)", null],
  ["(?i:a)", null],
  ["(?-i:a)", null],
  ["(?L)a", "cannot use 'L' flag"],
  ["(?au)a", "incompatible"],
  ["(?>a)", null],
  ["x*+", null],
  ["a++", null],
  ["a{2}?", null],
  ["a{2}+", null],
  ["a**", "multiple repeat"],
  ["(?#c)*", "nothing to repeat"],
  ["a(?#c)*", null],
  ["\\b*", "nothing to repeat"],
  ["^*", "nothing to repeat"],
  ["$*", "nothing to repeat"],
  ["\\A*", "nothing to repeat"],
  ["{1}", "nothing to repeat"],
  ["a{,3}", null],
  ["a{}", null],
  ["a{,}", null],
  ["a{1", null],
  ["a{3,2}", "min repeat greater than max repeat"],
  ["a{99999999999}", "repetition number is too large"],
  ["\\q", "bad escape \\q"],
  ["\\k<x>", "bad escape \\k"],
  ["\\g<1>", "bad escape \\g"],
  ["[\\8]", "bad escape \\8"],
  ["\\x4", "incomplete escape \\x4"],
  ["\\x41", null],
  ["\\u00e9", null],
  ["\\U0001F600", null],
  ["\\0", null],
  ["\\012", null],
  ["\\400", "outside of range"],
  ["\\ ", null],
  ["a\\Z", null],
  ["[]a]", null],
  ["[^]a]", null],
  ["[a-]", null],
  ["[\\b]", null],
  ["[\\s\\S]", null],
  ["[\\w.-]+", null],
  ["[z-a]", "bad character range z-a"],
  ["[\\d-z]", "bad character range \\d-z"],
  ["[a-\\d]", "bad character range a-\\d"],
  ["[😀-🙏]<HOST>", null],
  ["[🙏-😀]", "bad character range"],
  ["(?(1", "missing ), unterminated name"],
  ["[", "unterminated character set"],
  ["(", "missing ), unterminated subpattern"],
  [")", "unbalanced parenthesis"],
  ["a|", null],
  ["|", null],
  ["(?s).*", null],
  ["$(reboot) `id` <HOST>", null],
  ["'\"<HOST>;|&", null],
];

// Refused here although Python compiles them: the verbose flag changes how the whole regex
// reads, and \N{...} needs Unicode's name table.
const STRICTER: [string, string][] = [
  ["(?x)a b", "verbose flag"],
  ["\\N{EM DASH}", "named character escapes"],
];

describe("checkFail2banRegex", () => {
  for (const [regex, error] of [...REGEXES, ...STRICTER]) {
    test(`${JSON.stringify(regex)} ${error === null ? "compiles" : "is refused"}`, () => {
      const check = checkFail2banRegex(regex);
      if (error === null) assert.ok(check.ok, check.ok ? "" : check.error);
      else assert.ok(!check.ok && check.error.includes(error), check.ok ? "compiled" : check.error);
    });
  }

  test("reports fail2ban's groups", () => {
    const check = checkFail2banRegex("<HOST> <F-USER>\\S+</F-USER> <F-ID/>");
    assert.ok(check.ok);
    assert.deepEqual(check.groups, ["ip4", "ip6", "dns", "user", "fid"]);
  });

  test("the translation matches like fail2ban on the sample lines", () => {
    const check = checkFail2banRegex(proxmoxFilterDefaults.failregex[0]!);
    assert.ok(check.ok);
    // fail2ban cuts the date off before matching; a line without date behaves the same.
    const ips = lines("pvedaemon-failures").map((l) => check.js.exec(l.replace(/^\S+(?: +\d+ \S+)? /, ""))?.groups);
    assert.deepEqual(ips.map((g) => g?.ip4 ?? g?.ip6), ["192.0.2.10", "192.0.2.11", "2001:db8::5", "198.51.100.7", "198.51.100.20", "192.0.2.200"]);
    for (const line of lines("pve-not-failures")) assert.equal(check.js.test(line), false, line);
  });

  test("tags are replaced only where fail2ban replaces them", () => {
    assert.equal(resolveFail2banTags("<root@pam> <F-X>a</F-X> </F-Y>"), "<root@pam> (?P<x>a) </F-Y>");
  });

  test("agrees with fail2ban's own Regex class on every case", () => {
    const script = [
      "import json, sys",
      "from fail2ban.server.failregex import Regex, RegexException",
      "out = []",
      "for p in json.load(sys.stdin):",
      "    try:",
      "        Regex(p); out.append(None)",
      "    except Exception as e:",
      "        out.append(str(e).splitlines()[-1])",
      "print(json.dumps(out))",
    ].join("\n");
    const patterns = REGEXES.map(([p]) => p);
    const python = JSON.parse(execFileSync(PYTHON, ["-c", script], { input: JSON.stringify(patterns) }).toString()) as (string | null)[];
    const disagreements = patterns.filter((p, i) => checkFail2banRegex(p).ok !== (python[i] === null)).map((p, i) => `${p}: python ${python[i]}`);
    assert.deepEqual(disagreements, []);
    const stricter = JSON.parse(execFileSync(PYTHON, ["-c", script], { input: JSON.stringify(STRICTER.map(([p]) => p)) }).toString());
    assert.deepEqual(stricter, [null, null]);
  });
});

describe("the real fail2ban-regex", () => {
  function runRegex(samples: string, filter: string) {
    const samplesFile = join(work, `samples-${Math.random().toString(36).slice(2)}`);
    writeFileSync(samplesFile, samples);
    const run = spawnSync(fail2banRegex, sampleCheckArgs(samplesFile, filter), { encoding: "utf8" });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    return parseRegexMatches(run.stdout);
  }
  function filterFile(filter: Fail2banFilter): string {
    const path = join(work, `${filter.name}.conf`);
    writeFileSync(path, renderFilter(filter));
    return path;
  }

  test("the rendered proxmox filter matches exactly the failure lines", () => {
    const failures = lines("pvedaemon-failures");
    const others = lines("pve-not-failures");
    const matched = runRegex([...failures, ...others].join("\n") + "\n", filterFile(proxmoxFilterDefaults));
    assert.deepEqual(matched, failures);
    assert.deepEqual(sampleCheckProblems(matched, { match: failures, noMatch: others }), []);
  });

  test("the proxmox filter's own samples pass the check", () => {
    const matched = runRegex(samplesFileContent(proxmoxFilterDefaults.samples), filterFile(proxmoxFilterDefaults));
    assert.deepEqual(sampleCheckProblems(matched, proxmoxFilterDefaults.samples), []);
  });

  test("a filter that misses IPv6 fails the check, naming the line", () => {
    const ipv4Only = Fail2banFilter.parse({ ...proxmoxFilterDefaults, name: "proxmox-ipv4", failregex: ["rhost=<IP4> user="] });
    const samples = { match: lines("pvedaemon-failures"), noMatch: lines("pve-not-failures") };
    const matched = runRegex(samplesFileContent(samples), filterFile(ipv4Only));
    assert.deepEqual(sampleCheckProblems(matched, samples), [
      "should match but does not: Nov 25 13:40:09 pve1 pvedaemon[23871]: authentication failure; rhost=2001:db8::5 user=admin@pve msg=no such user ('admin@pve')",
    ]);
  });

  test("a filter matching too much fails the check", () => {
    const greedy = Fail2banFilter.parse({ ...proxmoxFilterDefaults, name: "proxmox-greedy", failregex: ["pve\\S*\\[<F-ID>\\d+</F-ID>\\]"] });
    const matched = runRegex(samplesFileContent(proxmoxFilterDefaults.samples), filterFile(greedy));
    assert.equal(sampleCheckProblems(matched, proxmoxFilterDefaults.samples).filter((p) => p.startsWith("should not match")).length, 2);
  });

  test("the sshd jail's filter options match Debian 12 sshd and Debian 13 sshd-session lines", () => {
    const all = lines("sshd-failures");
    assert.deepEqual(runRegex(all.join("\n") + "\n", renderFilterRef(referenceSshdJail.filter)), all);
  });
});

describe("the rendered files in a copy of /etc/fail2ban", () => {
  const etc = join(work, "etc");
  const logfile = join(work, "app.log");

  function install(files: Record<string, string>) {
    rmSync(etc, { recursive: true, force: true });
    cpSync("/etc/fail2ban", etc, { recursive: true });
    for (const [path, content] of Object.entries(files)) writeFileSync(join(etc, path), content);
    writeFileSync(logfile, "");
  }
  function client(args: string[]) {
    return spawnSync(fail2banClient, ["-c", etc, ...args], { encoding: "utf8" });
  }

  test("the reference procedure's golden files pass -t and reach fail2ban as meant (systemd backend)", () => {
    // The hand-written files (the renderers' output is compared with them in fail2ban.test.ts).
    const golden = (name: string) => readFileSync(join(fixtures, "rendered", name), "utf8");
    install({
      "filter.d/proxmox.conf": golden("proxmox.conf"),
      "jail.d/proxmox-hardening-defaults.local": golden("defaults.systemd.local"),
      "jail.d/proxmox-hardening-jail-sshd.local": golden("jail-sshd.systemd.local"),
      "jail.d/proxmox-hardening-jail-proxmox.local": golden("jail-proxmox.systemd.local"),
    });
    const t = client(["-t"]);
    assert.deepEqual(parseConfigTest(t.status, t.stdout, t.stderr), { ok: true, errors: [], warnings: [] });
    const stream = client(["-d"]).stdout.split("\n");
    for (const expected of [
      "['add', 'sshd', 'systemd']",
      "['set', 'sshd', 'addjournalmatch', '_SYSTEMD_UNIT=ssh.service', '+', '_SYSTEMD_UNIT=sshd.service', '+', '_COMM=sshd', '+', '_COMM=sshd-session']",
      "['set', 'sshd', 'maxretry', 3]",
      "['set', 'sshd', 'findtime', '300']",
      "['set', 'sshd', 'bantime', '3600']",
      "['set', 'sshd', 'addignoreip', '127.0.0.1/8', '::1']",
      "['add', 'proxmox', 'systemd']",
      "['set', 'proxmox', 'addjournalmatch', 'SYSLOG_IDENTIFIER=pvedaemon']",
      "['start', 'sshd']",
      "['start', 'proxmox']",
    ]) {
      assert.ok(stream.includes(expected), `missing ${expected}`);
    }
    assert.ok(stream.some((l) => l.startsWith("['set', 'sshd', 'prefregex',") && l.includes("sshd(?:-session)?")), "the _daemon option reaches the sshd filter");
    assert.ok(stream.includes(`['set', 'proxmox', 'addfailregex', '${proxmoxFilterDefaults.failregex[0]!.replaceAll("\\", "\\\\")}']`));
  });

  test("every jail option we render is accepted, and % arrives as %", () => {
    const filter = Fail2banFilter.parse({
      name: "myapp",
      failregex: ["^100% failed from <HOST>$", "^x <ADDR>$"],
      ignoreregex: ["a%b"],
      datepattern: "^%Y-%m-%d %H:%M:%S",
      samples: { match: ["2026-11-25 13:40:01 100% failed from 192.0.2.1"] },
    });
    const jail = Fail2banJail.parse({
      name: "web",
      port: ["http", "https", "8000:8010"],
      protocol: "udp",
      filter: { name: "myapp" },
      logpath: [logfile],
      bantimeIncrement: { factor: 1.5, maxtime: "1w", rndtime: 300, multipliers: [1, 2, 4], overalljails: true },
      ...everyOtherJailOption,
    });
    install({
      "filter.d/myapp.conf": renderFilter(filter),
      "jail.d/proxmox-hardening-jail-web.local": renderJail(jail, "polling"),
      // Debian enables [sshd] on /var/log/auth.log, which a test machine may not have.
      "jail.d/proxmox-hardening-jail-sshd.local": renderJail(referenceSshdJail, "systemd"),
    });
    const t = client(["-t"]);
    assert.deepEqual(parseConfigTest(t.status, t.stdout, t.stderr), { ok: true, errors: [], warnings: [] });
    const stream = client(["-d"]).stdout.split("\n");
    for (const expected of [
      "['add', 'web', 'polling']",
      "['set', 'web', 'usedns', 'no']",
      "['multi-set', 'web', 'addfailregex', ['^100% failed from <HOST>$', '^x <ADDR>$']]",
      "['set', 'web', 'addignoreregex', 'a%b']",
      "['set', 'web', 'datepattern', '^%Y-%m-%d %H:%M:%S']",
      "['set', 'web', 'bantime', '86400']",
      "['set', 'web', 'bantime.increment', True]",
      "['set', 'web', 'bantime.factor', '1.5']",
      "['set', 'web', 'bantime.multipliers', '1 2 4']",
      "['set', 'web', 'bantime.maxtime', '604800']",
      "['set', 'web', 'bantime.rndtime', '300']",
      "['set', 'web', 'bantime.overalljails', True]",
      "['set', 'web', 'addignoreip', '192.0.2.0/24', '2001:db8::1']",
      `['set', 'web', 'addlogpath', '${logfile}', 'head']`,
      "['set', 'web', 'addaction', 'nftables-multiport']",
      "['set', 'web', 'addaction', 'sendmail-whois-lines']",
    ]) {
      assert.ok(stream.includes(expected), `missing ${expected}`);
    }
    // The ban action gets port and protocol, and pastes the port into a root shell command.
    const action = stream.find((l) => l.startsWith("['multi-set', 'web', 'action', 'nftables-multiport'"));
    assert.ok(action?.includes("['port', 'http,https,8000:8010'], ['protocol', 'udp'], ['chain', 'INPUT']"), action);
    assert.ok(action?.includes("$(echo 'http,https,8000:8010' | sed s/:/-/g)"), action);
  });
});

describe("lists taken from the Debian package", () => {
  test("STOCK_FILTERS are the filters fail2ban ships", () => {
    const shipped = readdirSync("/etc/fail2ban/filter.d").map((f) => f.replace(/\.conf$/, "")).filter((f) => !f.endsWith(".local"));
    assert.deepEqual([...STOCK_FILTERS].sort(), shipped.sort());
  });
  test("every allowed banaction exists in action.d", () => {
    for (const action of BAN_ACTIONS) assert.ok(existsSync(`/etc/fail2ban/action.d/${action}.conf`), action);
  });
});
