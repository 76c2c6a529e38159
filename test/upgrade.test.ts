import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { StepEventMetadata } from "@pulumi/pulumi/automation";
import { down, SandboxHost, up } from "../sandbox";
import { repoRoot } from "../scripts/engine";
import { HostState, hostState, run, sshLogins, WriteTraces, writeTraces, writesBetween } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { changelogReleases, checkOut, Release, stepsSince } from "./support/releases";

// Issue 21: upgrading never churns a fleet. For every release CHANGELOG.md
// names by commit, that release's own code (a checkout of its commit) deploys
// a stack on two systemd-booted sandbox nodes (Debian 12, with rsyslog and journal
// only); then the current code drives the same stack, from the same
// state backend with the same stack config. The stored provider shim loads the
// providers of the directory the engine runs in, so from then on only the
// current providers run, for refresh and destroy too.

const releases = changelogReleases();
const deployedBy = releases.filter((release): release is Release & { commit: string } => release.commit !== undefined);

let pve1: SandboxHost;
let pve2: SandboxHost;
/** Each node before any release's first up; every release's destroy must come back to it. */
const pristine: Record<string, NodeState> = {};

interface NodeState extends HostState {
  /** ufw's rules in the order added, also while ufw is off (`status` then lists none). */
  ufwAdded: string;
  fail2banRunning: boolean;
}

async function nodeState(host: SandboxHost): Promise<NodeState> {
  const fail2ban = await run(host, "if pgrep -x fail2ban-server >/dev/null; then echo running; else echo stopped; fi");
  return { ...(await hostState(host)), ufwAdded: await run(host, "ufw show added"), fail2banRunning: fail2ban.trim() === "running" };
}

before(async () => {
  await down();
  // An operator's nodes run systemd, and a release's code took its systemctl paths there. Proxmox VE 8 nodes, with rsyslog and
  // journal only: 0.1.0 cannot deploy on Debian 13 (its sample check misreads fail2ban 1.1.0's fail2ban-regex), so no 0.1.0 stack is on PVE 9.
  const inventory = await up({ count: 0, nodes: [{ release: "bookworm", mode: "syslog" }, { release: "bookworm" }] });
  [pve1, pve2] = inventory.hosts;
  // What an administrator already has on pve1: a jail.local, a rule of their own, a rule the
  // program also wants (adopted, and kept on destroy), the Proxmox firewall on.
  await run(pve1, "printf '# my own settings\\n[sshd]\\nmode = aggressive\\n' > /etc/fail2ban/jail.local");
  await run(pve1, "ufw allow 2222/tcp comment 'made by hand' && ufw allow 22/tcp");
  await run(pve1, "pvesh set /cluster/firewall/options --enable 1");
  for (const host of [pve1, pve2]) pristine[host.name] = await nodeState(host);
}, { timeout: 180_000 });

after(async () => {
  await down();
}, { timeout: 120_000 });

/** The stack config a team would have: root with a key on one node, a sudo user on the other, an extra rule, fail2ban settings. */
function stackConfig() {
  return sandboxConfig([{ host: pve1 }, { host: pve2, viaSudoUser: true }], {
    // Bridge netfilter is on in the nodes, as on a node whose firewall loaded br_netfilter: 0.1.0 refuses ufw there unless routed is allow.
    // The second rule's name is over 60 characters, cut and hashed: its resource must carry over (an alias), not be replaced.
    ufw: {
      defaults: { routed: "allow" },
      extraRules: [
        { action: "allow", protocol: "tcp", port: 9100, from: "203.0.113.0/24", comment: "node exporter" },
        { action: "allow", protocol: "tcp", port: "60000:60050", from: "2001:db8:1234:5678::/64", to: "2001:db8:1234:5678::10", comment: "migration" },
      ],
    },
    fail2ban: { defaults: { bantime: "1h", ignoreip: ["127.0.0.1/8", "::1"] } },
  });
}

const describeStep = (step: StepEventMetadata) => `${step.op} ${step.type} ${step.urn.split("::").pop()}${step.diffs?.length ? ` (changed: ${step.diffs.join(", ")})` : ""}`;

for (const release of deployedBy) {
  const short = release.commit.slice(0, 7);
  describe(`upgrade from ${release.version} (${short})`, () => {
    const stackName = `test-upgrade-${release.version}-${process.pid}`;
    // The steps CHANGELOG.md lets the first preview show (those of every newer release), and no other.
    const allowed = stepsSince(releases, release);
    const isAllowed = (step: StepEventMetadata) => allowed.some((a) => a.op === step.op && a.type === step.type);
    let releaseDir: string | undefined;
    let program: ProgramStack | undefined;
    const traces: Record<string, WriteTraces> = {};
    const logins: Record<string, number> = {};

    /** Traces and logins right before a step, so that each step is judged on its own. */
    async function observeNodes() {
      for (const host of [pve1, pve2]) {
        traces[host.name] = await writeTraces(host);
        logins[host.name] = await sshLogins(host);
      }
    }

    async function assertNothingWritten(what: string) {
      for (const host of [pve1, pve2]) {
        const writes = writesBetween(traces[host.name], await writeTraces(host));
        assert.deepEqual(writes, [], `${host.name}: ${what} changed the node`);
      }
    }

    after(async () => {
      await program?.remove();
      if (releaseDir) rmSync(releaseDir, { recursive: true, force: true });
    }, { timeout: 600_000 });

    test(`${release.version}'s own code, checked out from ${short}, deploys the stack`, { timeout: 900_000 }, async () => {
      releaseDir = mkdtempSync(join(tmpdir(), `phs-release-${release.version}-`));
      checkOut(release, releaseDir);
      program = await ProgramStack.create(stackName, stackConfig(), releaseDir);
      const result = await program.stack.up();
      assert.equal(result.summary.result, "succeeded");
      for (const host of [pve1, pve2]) assert.match(await run(host, "ufw status"), /^Status: active$/m, `${host.name}: hardened by ${release.version}`);
    });

    test("the current code takes over the stack: same state backend and stack config, the release's checkout removed", { timeout: 120_000 }, async () => {
      // An operator upgrades in place: the stack file stays beside the new code.
      copyFileSync(join(releaseDir!, `Pulumi.${stackName}.yaml`), join(repoRoot, `Pulumi.${stackName}.yaml`));
      // From here on no code of the old release exists that the engine could run.
      rmSync(releaseDir!, { recursive: true, force: true });
      program = await ProgramStack.select(stackName);
      assert.ok(program, `stack ${stackName} in the shared state backend`);
    });

    test(`preview shows no replace, no delete, and only the steps CHANGELOG.md lists since ${release.version}`, { timeout: 300_000 }, async () => {
      await observeNodes();
      const steps: StepEventMetadata[] = [];
      const preview = await program!.stack.preview({ onEvent: (event) => event.resourcePreEvent && steps.push(event.resourcePreEvent.metadata) });
      const shown = steps.filter((step) => step.op !== "same");
      assert.deepEqual(shown.filter((step) => !isAllowed(step)).map(describeStep), [], "steps CHANGELOG.md does not list");
      for (const step of allowed) {
        assert.ok(shown.some((s) => s.op === step.op && s.type === step.type), `CHANGELOG.md lists "${step.op} ${step.type}", the preview does not show it`);
        assert.ok(preview.stdout.includes(step.why), `the preview says why it shows "${step.op} ${step.type}": "${step.why}"`);
      }
      // An empty event stream would pass the checks above: every resource in state must have had its step
      // (under its state URN, or as the old state of a step under a new name that aliases it).
      const inState = (await program!.stack.exportStack()).deployment.resources.map((r: { urn: string }) => r.urn).filter((urn: string) => !urn.includes("::pulumi:providers:"));
      assert.deepEqual(inState.filter((urn: string) => !steps.some((step) => step.urn === urn || step.old?.urn === urn)), [], "resources in state the preview did not go through");
      for (const host of [pve1, pve2]) assert.equal(await sshLogins(host), logins[host.name], `${host.name}: preview logged in over SSH`);
      await assertNothingWritten("preview");
    });

    test("up changes nothing on any node: it runs only the steps CHANGELOG.md lists, and they only read", { timeout: 300_000 }, async () => {
      await observeNodes();
      const steps: StepEventMetadata[] = [];
      const result = await program!.stack.up({ onEvent: (event) => event.resourcePreEvent && steps.push(event.resourcePreEvent.metadata) });
      assert.equal(result.summary.result, "succeeded");
      const shown = steps.filter((step) => step.op !== "same");
      assert.deepEqual(shown.filter((step) => !isAllowed(step)).map(describeStep), [], "up performed steps CHANGELOG.md does not list");
      // Each listed step is per node: as many as nodes, no more (e.g. not a second create on one node).
      for (const step of allowed) assert.equal(shown.filter((s) => s.op === step.op && s.type === step.type).length, [pve1, pve2].length, `"${step.op} ${step.type}" once per node`);
      // Judged on the nodes, not on what the program reports: no file, rule, option, process or counter changed.
      await assertNothingWritten("up");
      // With nothing listed, nothing needs a node at all: not even a login, as the node's sshd saw it.
      if (allowed.length === 0) for (const host of [pve1, pve2]) assert.equal(await sshLogins(host), logins[host.name], `${host.name}: up logged in over SSH`);
    });

    test("preview --refresh finds no drift, and its reads change nothing", { timeout: 300_000 }, async () => {
      await observeNodes();
      const steps: StepEventMetadata[] = [];
      const preview = await program!.stack.preview({ refresh: true, onEvent: (event) => event.resourcePreEvent && steps.push(event.resourcePreEvent.metadata) });
      assert.deepEqual(steps.filter((step) => !["same", "refresh"].includes(step.op)).map(describeStep), []);
      assert.deepEqual(Object.keys(preview.changeSummary), ["same"]);
      assert.ok(steps.some((step) => step.op === "refresh"), "the refresh read the nodes");
      await assertNothingWritten("preview --refresh");
    });

    test(`destroy puts every node back as it was before ${release.version}'s first up`, { timeout: 600_000 }, async () => {
      const result = await program!.stack.destroy();
      assert.equal(result.summary.result, "succeeded");
      for (const host of [pve1, pve2]) assert.deepEqual(await nodeState(host), pristine[host.name], `${host.name}: files, ufw, firewall options, fail2ban as before`);
      assert.match(pristine.pve1.ufwAdded, /2222\/tcp/, "the administrator's own rule was there to keep");
    });
  });
}
