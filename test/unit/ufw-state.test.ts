// Parsers for ufw's live state, on the files and outputs the real ufw produced.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseDefaultsFile,
  parseKeyValueFile,
  parseUfwConf,
  parseUfwFiles,
  parseUserRules,
  splitFileBundle,
  STATE_READ_COMMAND,
  UFW_FILES,
} from "../../providers/ufw/logic";
import { parseStatusVerbose } from "../support/ufw-status";
import { ufwRun, ufwState } from "../fixtures/ufw/fixtures";

test("parseDefaultsFile reads Debian's /etc/default/ufw and ufw's changes to it", () => {
  assert.deepEqual(parseDefaultsFile(ufwState("a-pristine", "default-ufw")), {
    ipv6: true,
    defaults: { incoming: "deny", outgoing: "allow", routed: "deny" },
  });
  assert.deepEqual(parseDefaultsFile(ufwState("a-custom-defaults", "default-ufw")).defaults, { incoming: "reject", outgoing: "allow", routed: "reject" });
  assert.equal(parseDefaultsFile(ufwState("c-ipv6-no", "default-ufw")).ipv6, false);
});

test("parseDefaultsFile accepts what ufw accepts and names what is wrong otherwise", () => {
  const file = (input: string) => `IPV6=YES\nDEFAULT_INPUT_POLICY=${input}\nDEFAULT_OUTPUT_POLICY='accept'\nDEFAULT_FORWARD_POLICY="Reject"\n`;
  assert.deepEqual(parseDefaultsFile(file("drop")), { ipv6: true, defaults: { incoming: "deny", outgoing: "allow", routed: "reject" } });
  assert.throws(() => parseDefaultsFile(file('"SKIP"')), /DEFAULT_INPUT_POLICY must be "ACCEPT", "DROP" or "REJECT" but found "SKIP"/);
  assert.throws(() => parseDefaultsFile("IPV6=yes\n"), /DEFAULT_INPUT_POLICY must be "ACCEPT", "DROP" or "REJECT" but it is missing/);
});

test("parseKeyValueFile: comments, quotes, inline comments, last assignment wins", () => {
  assert.deepEqual(parseKeyValueFile('# A=1\nA=2\n  B="x y" # note\nC=plain # note\nA=3\nnot a line\nD=\'q\'\n'), { A: "3", B: "x y", C: "plain", D: "q" });
});

test("parseUfwConf reads ENABLED and LOGLEVEL as ufw leaves them", () => {
  assert.deepEqual(parseUfwConf(ufwState("a-pristine", "ufw.conf")), { enabled: false, logging: "low" });
  assert.deepEqual(parseUfwConf(ufwState("a-active", "ufw.conf")), { enabled: true, logging: "low" });
  assert.deepEqual(parseUfwConf(ufwState("a-custom-defaults", "ufw.conf")), { enabled: true, logging: "medium" });
  assert.deepEqual(parseUfwConf(ufwState("a-disabled", "ufw.conf")), { enabled: false, logging: "off" });
  // missing or unknown LOGLEVEL: ufw sets "low" when it next starts
  assert.deepEqual(parseUfwConf("ENABLED=YES\nLOGLEVEL=verbose\n"), { enabled: true, logging: undefined });
  assert.deepEqual(parseUfwConf(""), { enabled: false, logging: undefined });
});

test("one tail of all state files splits back into the exact files", () => {
  assert.deepEqual(STATE_READ_COMMAND, ["tail", "-n", "+1", "--", "/etc/default/ufw", "/etc/ufw/ufw.conf", "/etc/ufw/user.rules", "/etc/ufw/user6.rules"]);
  const files = splitFileBundle(ufwState("a-active", "tail-bundle"));
  assert.deepEqual(Object.keys(files), Object.values(UFW_FILES));
  assert.equal(files[UFW_FILES.defaults], ufwState("a-active", "default-ufw"));
  assert.equal(files[UFW_FILES.conf], ufwState("a-active", "ufw.conf"));
  assert.equal(files[UFW_FILES.userRules], ufwState("a-active", "user.rules"));
  assert.equal(files[UFW_FILES.user6Rules], ufwState("a-active", "user6.rules"));

  const state = parseUfwFiles(files);
  assert.equal(state.enabled, true);
  assert.equal(state.logging, "low");
  assert.equal(state.ipv6, true);
  assert.deepEqual(state.defaults, { incoming: "deny", outgoing: "allow", routed: "deny" });
  assert.deepEqual(state.tuplesV4, parseUserRules(ufwState("a-active", "user.rules"), "v4"));
  assert.equal(state.tuplesV4.length, 13);
  assert.equal(state.tuplesV6.length, 8);
  // after a delete and re-add, ssh is last: file order is ufw's order
  assert.equal(state.tuplesV4.at(-1)?.comment, "allow ssh");
});

test("parseUfwFiles: IPV6=no ignores user6.rules; a file tail could not read is named", () => {
  const files = splitFileBundle(
    [
      `==> ${UFW_FILES.defaults} <==`,
      ufwState("c-ipv6-no", "default-ufw"),
      `==> ${UFW_FILES.conf} <==`,
      ufwState("c-ipv6-no", "ufw.conf"),
      `==> ${UFW_FILES.userRules} <==`,
      ufwState("c-ipv6-no", "user.rules"),
      `==> ${UFW_FILES.user6Rules} <==`,
      "### tuple ### allow tcp 22 ::/0 any ::/0 in",
      "",
    ].join("\n"),
  );
  const state = parseUfwFiles(files);
  assert.equal(state.ipv6, false);
  assert.equal(state.tuplesV4.length, 1);
  assert.deepEqual(state.tuplesV6, []);

  const { [UFW_FILES.conf]: _missing, ...withoutConf } = files;
  assert.throws(() => parseUfwFiles(withoutConf), /\/etc\/ufw\/ufw.conf could not be read; is ufw installed\?/);
});

test("parseStatusVerbose: inactive ufw prints nothing but its status", () => {
  for (const run of ["a-status-verbose-inactive-empty", "a-status-verbose-inactive", "a-status-verbose-disabled", "c-status-verbose-inactive"]) {
    assert.deepEqual(parseStatusVerbose(ufwRun(run).stdout), { active: false, rules: [] }, run);
  }
  assert.throws(() => parseStatusVerbose("ERROR: problem running\n"), /has no "Status:" line/);
});

test("parseStatusVerbose: active ufw with v4 and v6 rules, ranges, lists, limit, reject, deny out, interface, networks, comments", () => {
  const status = parseStatusVerbose(ufwRun("a-status-verbose-active").stdout);
  assert.equal(status.active, true);
  assert.equal(status.logging, "low");
  // routed shows "disabled" whenever IP forwarding is off, whatever the FORWARD policy
  assert.deepEqual(status.defaults, { incoming: "deny", outgoing: "allow", routed: "disabled" });
  assert.equal(status.rules.length, 21);
  assert.deepEqual(status.rules.slice(0, 3), [
    { to: "2222/tcp", action: "limit", direction: "in", from: "Anywhere", v6: false, comment: "ssh rate limit" },
    { to: "8006/tcp on vmbr0", action: "allow", direction: "in", from: "192.0.2.0/24", v6: false, comment: "pve web ui" },
    { to: "80,443/tcp", action: "allow", direction: "in", from: "Anywhere", v6: false },
  ]);
  const find = (to: string, v6: boolean, direction = "in") => status.rules.find((rule) => rule.to === to && rule.v6 === v6 && rule.direction === direction);
  assert.deepEqual(find("25/tcp", false), { to: "25/tcp", action: "reject", direction: "in", from: "Anywhere", v6: false });
  assert.deepEqual(find("Anywhere", false), { to: "Anywhere", action: "deny", direction: "in", from: "203.0.113.7", v6: false });
  assert.deepEqual(find("5405:5412/udp", false), { to: "5405:5412/udp", action: "allow", direction: "in", from: "10.10.10.0/24", v6: false, comment: "proxmox corosync" });
  assert.deepEqual(find("198.51.100.10 443/tcp", false), { to: "198.51.100.10 443/tcp", action: "allow", direction: "in", from: "Anywhere", v6: false });
  // a v6 rule with an address carries no "(v6)" marker: the address tells
  assert.deepEqual(
    status.rules.filter((rule) => rule.to === "22/tcp"),
    [
      { to: "22/tcp", action: "allow", direction: "in", from: "Anywhere", v6: false, comment: "allow ssh" },
      { to: "22/tcp", action: "allow", direction: "in", from: "2001:db8:1::/48", v6: true, comment: "ops v6" },
      { to: "22/tcp", action: "allow", direction: "in", from: "Anywhere", v6: true, comment: "allow ssh" },
    ],
  );
  assert.deepEqual(find("25/tcp", true, "out"), { to: "25/tcp", action: "deny", direction: "out", from: "Anywhere", v6: true });
  assert.deepEqual(find("2001:db8::/32 53/udp", true, "out"), {
    to: "2001:db8::/32 53/udp",
    action: "allow",
    direction: "out",
    from: "Anywhere on vmbr1",
    v6: true,
    comment: "dns v6 upstream",
  });
});

test("parseStatusVerbose: custom defaults, logging levels and off", () => {
  const custom = parseStatusVerbose(ufwRun("a-status-verbose-custom").stdout);
  assert.deepEqual(custom.defaults, { incoming: "reject", outgoing: "allow", routed: "reject" });
  assert.equal(custom.logging, "medium");
  assert.equal(custom.rules.find((rule) => rule.to === "22/tcp" && !rule.v6)?.comment, "ssh v3");
  const off = parseStatusVerbose(ufwRun("a-status-verbose-logging-off").stdout);
  assert.equal(off.logging, "off");
  assert.equal(off.rules.length, 21);
});

test("parseStatusVerbose: app rules, log options, source ports, esp, UTF-8 comments, route rules", () => {
  const status = parseStatusVerbose(ufwRun("d-status-verbose").stdout);
  assert.deepEqual(status.rules, [
    { to: "80,443/tcp (WWW Full)", action: "allow", direction: "in", from: "Anywhere", v6: false },
    { to: "2222/tcp", action: "deny", direction: "in", from: "Anywhere", v6: false, log: "log" },
    { to: "8006/tcp on vmbr0", action: "allow", direction: "in", from: "Anywhere", v6: false, log: "log-all" },
    { to: "22/tcp", action: "allow", direction: "in", from: "1024:2000/tcp", v6: false },
    { to: "Anywhere", action: "allow", direction: "in", from: "10.0.0.1/esp", v6: false },
    { to: "9000/tcp", action: "allow", direction: "in", from: "Anywhere", v6: false, comment: "café ü" },
    { to: "80,443/tcp (WWW Full)", action: "allow", direction: "in", from: "Anywhere", v6: true },
    { to: "2222/tcp", action: "deny", direction: "in", from: "Anywhere", v6: true, log: "log" },
    { to: "8006/tcp on vmbr0", action: "allow", direction: "in", from: "Anywhere", v6: true, log: "log-all" },
    { to: "22/tcp", action: "allow", direction: "in", from: "1024:2000/tcp", v6: true },
    { to: "9000/tcp", action: "allow", direction: "in", from: "Anywhere", v6: true, comment: "café ü" },
    { to: "80/tcp on eth0", action: "allow", direction: "fwd", from: "Anywhere on vmbr0", v6: false },
    { to: "80/tcp on eth0", action: "allow", direction: "fwd", from: "Anywhere on vmbr0", v6: true },
  ]);
});
