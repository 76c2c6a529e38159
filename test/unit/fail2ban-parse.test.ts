// Parsers, fed with real fail2ban 1.0.2 output captured by test/fixtures/fail2ban/capture.sh, and
// fail2ban-regex's of 1.0.2 (Debian 12) and 1.1.0 (Debian 13) by capture-regex-out.sh.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sampleCheckProblems } from "../../providers/fail2ban/logic";
import {
  Fail2banOutputError,
  parseConfigTest,
  parseLogMessages,
  parseRegexError,
  parseRegexMatches,
  parseServerStatus,
} from "../../providers/fail2ban/parse";
import { parseJailStatus } from "../support/fail2ban-status";

interface Captured {
  command: string[];
  exitCode: number;
  seconds: number;
  stdout: string;
  stderr: string;
}

const fixtures = join(__dirname, "../fixtures/fail2ban");

function captured(name: string): Captured {
  return JSON.parse(readFileSync(join(fixtures, "captured", `${name}.json`), "utf8")) as Captured;
}

function sampleLines(name: string): string[] {
  return readFileSync(join(fixtures, "samples", `${name}.lines`), "utf8").split("\n").filter(Boolean);
}

describe("fail2ban-client status", () => {
  test("jail list", () => {
    assert.deepEqual(parseServerStatus(captured("status").stdout), { jails: ["proxmox", "sshd"] });
  });
  test("no jail left after a failed reload", () => {
    assert.deepEqual(parseServerStatus(captured("status-after-broken-reload").stdout), { jails: [] });
  });
  test("one jail", () => {
    assert.deepEqual(parseServerStatus(captured("status-after-broken-bantime").stdout), { jails: ["sshd"] });
  });
  test("anything else is refused", () => {
    assert.throws(() => parseServerStatus(captured("status-sshd-file").stdout), Fail2banOutputError);
    assert.throws(() => parseServerStatus(""), Fail2banOutputError);
    assert.throws(() => parseServerStatus("Status\n|- Number of jail:\t3\n`- Jail list:\tsshd\n"), Fail2banOutputError);
  });
});

describe("fail2ban-client status <jail>", () => {
  test("file backend, nothing yet", () => {
    assert.deepEqual(parseJailStatus(captured("status-sshd-file").stdout), {
      jail: "sshd",
      currentlyFailed: 0,
      totalFailed: 0,
      source: { kind: "files", files: ["/var/log/auth.log"] },
      currentlyBanned: 0,
      totalBanned: 0,
      bannedIps: [],
    });
  });
  test("file backend with an IPv4 and an IPv6 ban (the sshd-session line counted)", () => {
    assert.deepEqual(parseJailStatus(captured("status-sshd-banned").stdout), {
      jail: "sshd",
      currentlyFailed: 1,
      totalFailed: 7,
      source: { kind: "files", files: ["/var/log/auth.log"] },
      currentlyBanned: 2,
      totalBanned: 2,
      bannedIps: ["192.0.2.10", "2001:db8::9"],
    });
  });
  test("systemd backend", () => {
    assert.deepEqual(parseJailStatus(captured("status-proxmox-systemd").stdout).source, { kind: "journal", matches: "SYSLOG_IDENTIFIER=pvedaemon" });
  });
  test("systemd backend with a ban from journal lines written with ident pvedaemon", () => {
    const status = parseJailStatus(captured("status-proxmox-banned").stdout);
    assert.equal(status.totalFailed, 3);
    assert.deepEqual(status.bannedIps, ["198.51.100.20"]);
  });
  test("an unknown jail is an error on exit code 255, not a status", () => {
    const run = captured("status-unknown-jail");
    assert.equal(run.exitCode, 255);
    assert.throws(() => parseJailStatus(run.stdout), Fail2banOutputError);
  });
});

describe("fail2ban-client -t", () => {
  test("success", () => {
    const run = captured("test-ok");
    assert.deepEqual(parseConfigTest(run.exitCode, run.stdout, run.stderr), { ok: true, errors: [], warnings: [] });
  });

  const failures: [string, string][] = [
    ["missing-filter", "Unable to read the filter 'nosuchfilter'"],
    ["missing-logfile", "Failed during configuration: Have not found any log file for sshd jail"],
    ["banaction", "Unable to read action 'nosuchaction'"],
    ["duplicate-key", "option 'maxretry' in section 'sshd' already exists"],
    ["percent", "'%' must be followed by '%' or '('"],
    ["ini-garbage", "[line 10]: 'this line has no equals sign\\n'"],
  ];
  for (const [name, message] of failures) {
    test(`failure: ${name}`, () => {
      const run = captured(`test-broken-${name}`);
      const result = parseConfigTest(run.exitCode, run.stdout, run.stderr);
      assert.equal(result.ok, false);
      assert.ok(result.errors.some((e) => e.includes(message)), JSON.stringify(result.errors));
      assert.ok(result.errors.includes("ERROR: test configuration failed"));
    });
  }

  // What the schemas must catch because -t does not.
  for (const name of ["regex", "no-host", "bantime", "journalmatch", "port", "inline-comment"]) {
    test(`-t passes a config with a broken ${name}`, () => {
      const run = captured(`test-broken-${name}`);
      assert.equal(parseConfigTest(run.exitCode, run.stdout, run.stderr).ok, true);
    });
  }
  test("-t passes a non-numeric maxretry with only a warning (fail2ban then uses no value)", () => {
    const run = captured("test-broken-maxretry");
    const result = parseConfigTest(run.exitCode, run.stdout, run.stderr);
    assert.equal(result.ok, true);
    assert.ok(result.warnings.includes("Wrong value for 'maxretry' in 'sshd'. Using default one: 'None'"));
  });
  test("the port lands in a root shell command, the inline comment cuts the regex", () => {
    assert.match(readFileSync(join(fixtures, "captured/dump-broken-port.txt"), "utf8"), /--dports ssh;true -j f2b-sshd/);
    assert.equal(readFileSync(join(fixtures, "captured/dump-broken-inline-comment.txt"), "utf8").trim(), "['set', 'proxmox', 'addfailregex', 'rhost=<HOST>']");
  });
  test("a non-zero exit without recognisable output is still a failure", () => {
    assert.deepEqual(parseConfigTest(1, "", "Traceback (most recent call last):\n"), { ok: false, errors: ["fail2ban-client -t exited with 1"], warnings: [] });
  });
});

describe("log messages and client errors", () => {
  test("multi-line messages are joined", () => {
    const messages = parseLogMessages(captured("test-broken-ini-garbage").stderr);
    assert.deepEqual(
      messages.filter((m) => m.level === "ERROR").map((m) => m.message)[0],
      "Failed during configuration: Source contains parsing errors: '/etc/fail2ban/jail.d/proxmox-hardening-jail-sshd.local'\n[line 10]: 'this line has no equals sign\\n'",
    );
  });
  test("a reload that fails exits 255 and names the cause", () => {
    const run = captured("reload-broken");
    assert.equal(run.exitCode, 255);
    assert.match(run.stdout, /^Unable to compile regular expression/);
  });
});

const REGEX_VERSIONS = readdirSync(join(fixtures, "regex-out")).sort();

test("fail2ban-regex fixtures cover Debian 12's and Debian 13's fail2ban", () => assert.deepEqual(REGEX_VERSIONS, ["1.0.2", "1.1.0"]));

for (const version of REGEX_VERSIONS) {
  const regexOut = (name: string) => JSON.parse(readFileSync(join(fixtures, "regex-out", version, `${name}.json`), "utf8")) as Omit<Captured, "seconds">;

  describe(`fail2ban-regex ${version} --out msg`, () => {
    test("the proxmox filter matches exactly the failure lines: the sample check passes", () => {
      const run = regexOut("proxmox-mixed");
      assert.equal(run.exitCode, 0);
      assert.deepEqual(parseRegexMatches(run.stdout), sampleLines("pvedaemon-failures"));
      assert.deepEqual(sampleCheckProblems(parseRegexMatches(run.stdout), { match: sampleLines("pvedaemon-failures"), noMatch: sampleLines("pve-not-failures") }), []);
    });
    test("ignored lines are not matches", () => {
      assert.deepEqual(parseRegexMatches(regexOut("ignored").stdout), sampleLines("pvedaemon-failures").filter((line) => !line.includes("user=backup@pbs")));
    });
    test("with _daemon=sshd(?:-session)? the sshd filter matches Debian 12's and 13's lines", () => {
      assert.deepEqual(parseRegexMatches(regexOut("sshd-session").stdout), sampleLines("sshd-failures"));
    });
    test("a missing log file is read as one log line: exit 0, nothing matched, the check fails", () => {
      const run = regexOut("missing-file");
      assert.equal(run.exitCode, 0);
      assert.deepEqual(sampleCheckProblems(parseRegexMatches(run.stdout), { match: sampleLines("pvedaemon-failures").slice(0, 1), noMatch: [] }), [
        `should match but does not: ${sampleLines("pvedaemon-failures")[0]}`,
      ]);
    });
    test("a filter that does not compile: exit 255 and the error", () => {
      const run = regexOut("broken-filter");
      assert.equal(run.exitCode, 255);
      assert.match(parseRegexError(run.stdout, run.stderr) ?? "", /^Unable to compile regular expression 'rhost=\(\(\?:.*':\nmissing \), unterminated subpattern at position 6$/s);
    });
    test("a missing filter file is taken as a regex", () => {
      const run = regexOut("missing-filter");
      assert.equal(run.exitCode, 255);
      assert.equal(parseRegexError(run.stdout, run.stderr), "No failure-id group in '/nonexistent/filter.conf'");
    });
  });
}

test("the stock sshd filter of 1.0.2 misses Debian 13's sshd-session line; 1.1.0's matches it", () => {
  const stock = (version: string) => parseRegexMatches(JSON.parse(readFileSync(join(fixtures, "regex-out", version, "sshd-stock.json"), "utf8")).stdout);
  assert.deepEqual(stock("1.0.2"), sampleLines("sshd-failures").slice(0, 4));
  assert.deepEqual(stock("1.1.0"), sampleLines("sshd-failures"));
});

describe("timings (what the provider can expect)", () => {
  test("start, reload and restart take seconds, not minutes", () => {
    for (const name of ["start", "reload-ok", "restart", "reload-broken"]) assert.ok(captured(name).seconds < 10, name);
  });
  test("after a failed reload, a good reload can leave a jail stopped; a restart brings all back", () => {
    assert.equal(captured("reload-restored").exitCode, 0);
    assert.deepEqual(parseServerStatus(captured("status-restored").stdout).jails, ["sshd"]);
    assert.deepEqual(parseServerStatus(captured("status-after-restart").stdout).jails, ["proxmox", "sshd"]);
  });
});
