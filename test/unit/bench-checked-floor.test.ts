// bench/checked-floor.ts's script: the floor's own changes, byte for byte, with each of the
// project's checks made once before them and the project's tested reload instead of the floor's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { checkedFloorScript } from "../../bench/checked-floor";
import { FLOOR_SCRIPT } from "../../bench/floor";
import { reloadScript } from "../../providers/fail2ban/service";

const floor = readFileSync(FLOOR_SCRIPT, "utf8");
const checked = checkedFloorScript(floor);
const count = (text: string, pattern: RegExp) => text.split("\n").filter((line) => pattern.test(line)).length;

test("checked floor: every file the floor writes, written the same way, and its pvesh and ufw rule changes", () => {
  const heredocs = floor.match(/^cat > \S+ <<'EOF'\n[\s\S]*?^EOF$/gm) ?? [];
  assert.equal(heredocs.length, 4);
  for (const heredoc of heredocs) assert.ok(checked.includes(heredoc), `missing: ${heredoc.split("\n")[0]}`);
  for (const line of ["pvesh set /cluster/firewall/options --enable 0", "ufw allow 22/tcp comment 'ssh'", "ufw allow 8006/tcp comment 'proxmox web ui'", "ufw --force enable"]) {
    assert.equal(count(checked, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`)), 1, line);
  }
});

test("checked floor: each check once, before the first change; the project's reload instead of the floor's", () => {
  const firstChange = checked.indexOf("pvesh set");
  for (const check of ["fail2ban-regex --out msg", "dpkg-query -S /etc/fail2ban/filter.d/proxmox.conf", "pvesh get /cluster/firewall/options"]) {
    assert.equal(count(checked, new RegExp(check.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))), 1, check);
    assert.ok(checked.indexOf(check) < firstChange, `${check} runs before the first change`);
  }
  // The configuration as found, then everything written, before the reload.
  assert.equal(count(checked, /fail2ban-client -t/), 2);
  assert.ok(checked.trimEnd().endsWith(reloadScript(["sshd", "proxmox"]).trimEnd()), "ends with the project's reload");
  assert.equal(count(checked, /^ufw default /), 0, "the project leaves defaults that already match alone");
  assert.equal(count(checked, /^if fail2ban-client ping /), 0);
});

test("checked floor: a shell script sh accepts", () => {
  const result = spawnSync("sh", ["-n"], { input: checked, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
});

test("checked floor: refuses a floor whose reload it cannot find", () => {
  assert.throws(() => checkedFloorScript(floor.replace(/^if fail2ban-client ping .*$/m, "fail2ban-client reload")), /no line 'if fail2ban-client ping \.\.\.'/);
});
