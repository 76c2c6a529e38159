import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BEFORE_DIR } from "../providers/ssh/before";
import { down, hostExec, SandboxHost, up } from "../sandbox";
import { shellQuote } from "../providers/ssh/quote";
import { effectiveRules, errorText, fingerprint, HostFingerprint, startSshd, waitFor } from "./support/faults";
import { run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { CUT_POINTS } from "./support/reliability-report";

// Issue 15 on the real engine and a sandbox host: an `up` cut short (sshd
// killed inside the host) right after each kind of change reached the host,
// before the engine could save it, again and again; the next `up` converges,
// and `destroy` puts the host back exactly as it was before the first `up`,
// keeping what really was there (a rule, a fail2ban file, the firewall option
// on, fail2ban stopped).
//
// The cuts are exact: inside the host (its own mount namespace), ufw, pvesh,
// fail2ban-client and base64 are wrapped. Every cut point is armed at once, one
// line each; when a wrapped command whose words start with an armed line has
// finished, the wrapper disarms that line and kills every sshd. So each `up`
// is cut at the first change of a kind not cut yet, wherever the engine's
// parallelism puts it, and every kind is cut once.

let host: SandboxHost;
let program: ProgramStack;
let original: HostFingerprint & Extras;
let config: ReturnType<typeof sandboxConfig>;

const CUT_DIR = "/run/ow-cut";
const WRAPPED = ["/usr/sbin/ufw", "/usr/bin/fail2ban-client", "/usr/bin/pvesh", "/usr/bin/mv"];
const WRAPPER = [
  "#!/bin/sh",
  'name=${0##*/}',
  `${CUT_DIR}/real/"$name" "$@"`,
  "rc=$?",
  `[ -f ${CUT_DIR}/armed ] || exit $rc`,
  `exec 8>${CUT_DIR}/lock && flock 8`,
  "n=0",
  `while IFS= read -r want; do`,
  "  n=$((n+1))",
  `  case "$name $*" in "$want"*)`,
  // The real mv: mv itself is wrapped, and this one holds the lock its wrapper would wait for.
  `    awk -v n="$n" 'NR != n' ${CUT_DIR}/armed > ${CUT_DIR}/armed.new && ${CUT_DIR}/real/mv ${CUT_DIR}/armed.new ${CUT_DIR}/armed`,
  `    printf '%s\\n' "$want" >> ${CUT_DIR}/fired`,
  "    pkill -KILL -x sshd",
  "    break ;;",
  "  esac",
  `done < ${CUT_DIR}/armed`,
  "exit $rc",
].join("\n");

/** What the admin had before the program: a rule and a fail2ban file the program also wants, incoming allowed, the firewall on, fail2ban stopped. */
const ADMIN_RULE = "allow in proto tcp from any to any port 9100 comment 'node exporter'";
const ADMIN_DEFAULTS = "# my own defaults\n[DEFAULT]\nbantime = 600\n";
const DEFAULTS_FILE = "/etc/fail2ban/jail.d/proxmox-hardening-defaults.local";

interface Extras {
  added: string;
  fail2banRunning: boolean;
  packages: string;
}

async function extras(): Promise<Extras> {
  return {
    added: await run(host, "ufw show added"),
    fail2banRunning: (await hostExec(host, "fail2ban-client ping")).code === 0,
    packages: await run(host, "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sha256sum"),
  };
}

before(async () => {
  await down();
  // A namespace host: the records and cuts are the providers' own scripts, alike on both releases (nine cut ups); cuts, fail2ban stopped by systemd and destroy on nodes of both: reliability.test.ts.
  host = (await up({ count: 1 })).hosts[0];
  await run(host, `ufw ${ADMIN_RULE} && ufw default allow incoming`);
  await run(host, `printf '%s' '${ADMIN_DEFAULTS}' > ${DEFAULTS_FILE} && chmod 640 ${DEFAULTS_FILE} && chown root:adm ${DEFAULTS_FILE}`);
  await run(host, "pvesh set /cluster/firewall/options --enable 1");
  await run(host, "fail2ban-client stop >/dev/null; i=0; while fail2ban-client ping >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done");
  original = { ...(await fingerprint(host)), ...(await extras()) };
  assert.equal(original.fail2banRunning, false, "fail2ban stopped before the first up");
  assert.deepEqual(original.records, [], "no records before the first up");
  // The wrappers exist only in the host's mount namespace (private propagation), on top of the real commands.
  await run(host, [`mkdir -p ${CUT_DIR}/real`, `printf '%s\\n' ${shellQuote(WRAPPER)} > ${CUT_DIR}/wrap`, `chmod 755 ${CUT_DIR}/wrap`, ...WRAPPED.map((path) => `cp -p ${path} ${CUT_DIR}/real/ && mount --bind ${CUT_DIR}/wrap ${path} && findmnt ${path} >/dev/null`)].join(" && "));
  config = sandboxConfig([{ host }], {
    ufw: { extraRules: [9100, 9101, 9102].map((port) => ({ action: "allow", protocol: "tcp", port, comment: port === 9100 ? "node exporter" : `exporter ${port}` })) },
  });
  program = await ProgramStack.create(`test-own-${process.pid}`, config);
}, { timeout: 600_000 });

after(async () => {
  await program?.remove();
  await down();
}, { timeout: 600_000 });

test("an up cut right after each kind of change: the next up converges, destroy restores the host exactly and keeps what was there", { timeout: 2_400_000 }, async () => {
  await run(host, `printf '%s\\n' ${CUT_POINTS.map((point) => shellQuote(point.trigger)).join(" ")} > ${CUT_DIR}/armed`);
  const fired = () => hostExec(host, `cat ${CUT_DIR}/fired`).then((result) => result.stdout.split("\n").filter(Boolean));
  for (let attempt = 0; attempt < CUT_POINTS.length && (await fired()).length < CUT_POINTS.length; attempt++) {
    const firedBefore = (await fired()).length;
    const outcome = await program.stack.up().then(() => "succeeded", errorText);
    const now = await fired();
    const armed = () => run(host, `cat ${CUT_DIR}/armed`);
    assert.ok(now.length > firedBefore, `up ${attempt + 1} ${outcome === "succeeded" ? "succeeded" : "failed"} without reaching a cut point (left: ${await armed()}): ${outcome.slice(-2000)}`);
    assert.notEqual(outcome, "succeeded", `up ${attempt + 1}, cut after ${now.slice(firedBefore).join(", ")}, failed`);
    // Scripts already running on the host go on without their connection: let them end, then sshd comes back.
    await waitFor("orphaned remote scripts to end", 120_000, async () => ((await hostExec(host, "pgrep -f 'proxmox-hardening[.]lock'")).code === 0 ? undefined : true), 500);
    await startSshd(host);
  }
  assert.deepEqual([...(await fired())].sort(), CUT_POINTS.map((point) => point.trigger).sort(), "every cut point was reached once");

  const converged = await program.stack.up();
  assert.equal(converged.summary.result, "succeeded", "the up after the cuts converges");
  const again = await program.stack.up();
  assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"], "and a second up changes nothing");
  const hardened = await run(host, "ufw status verbose");
  assert.match(hardened, /^Status: active$/m);
  for (const port of ["22", "8006", "9100", "9101", "9102"]) assert.match(hardened, new RegExp(`^${port}/tcp +ALLOW IN +Anywhere`, "m"), `${port} allowed`);
  assert.equal(JSON.parse(await run(host, "pvesh get /cluster/firewall/options --output-format json")).enable, 0, "Proxmox firewall off");
  assert.ok((await extras()).fail2banRunning, "fail2ban running");
  const recordDir = `${BEFORE_DIR}/proxmox-hardening/${program.stack.name}/pve1`;
  assert.ok((await fingerprint(host)).records.some((line) => line.startsWith(`f ${recordDir}/`)), "the stack's records are on the host");

  // Issue 14, point 6: a second stack for the same node is refused, naming this one, and changes nothing.
  const hardenedHost = { ...(await fingerprint(host)), ...(await extras()) };
  const second = await ProgramStack.create(`test-own2-${process.pid}`, config);
  try {
    const refused = await second.stack.up().then(() => "succeeded", errorText);
    assert.match(refused, new RegExp(`package ufw is managed by stack proxmox-hardening/${program.stack.name} \\(host entry pve1\\)[^\\n]*: nothing was changed`));
    assert.deepEqual({ ...(await fingerprint(host)), ...(await extras()) }, hardenedHost, "the host is as the first stack left it");
  } finally {
    await second.remove();
  }

  const destroyed = await program.stack.destroy();
  assert.equal(destroyed.summary.result, "succeeded");
  const now = { ...(await fingerprint(host)), ...(await extras()) };
  for (const family of ["v4", "v6"] as const) {
    assert.deepEqual(effectiveRules(now.ruleset[family]), effectiveRules(original.ruleset[family]), `the ${family} ruleset filters as before`);
  }
  // Everything else exactly as before the first up: files byte for byte with mode and owner (the
  // admin's defaults file among them), ufw's rules (the admin's 9100 kept, the cut runs' removed),
  // status and defaults, the Proxmox options (enable 1 again), fail2ban stopped, the packages, no records.
  assert.deepEqual({ ...now, ruleset: undefined }, { ...original, ruleset: undefined });
});
