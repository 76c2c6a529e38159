import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { down, hostExec, SandboxHost, SANDBOX_DIR, up, writePvedaemonFailure } from "../sandbox";
import { shellQuote } from "../providers/ssh/quote";
import { BEFORE_DIR } from "../providers/ssh/before";
import { AptRepoStandIn, enterpriseSource, repackInstalled } from "./support/apt-repo";
import { pollUntil } from "../sandbox/attack";
import { HostState, hostState, run, writesBetween, writeTraces } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";
import { errorText } from "./support/faults";

// Issue 14, points 3 to 5, on systemd nodes of Debian 13 (Proxmox VE 9's base) and Debian 12
// (VE 8's), one stack over both, case after case:
// - no subscription: each node has Proxmox's enterprise repository enabled, which answers 401
//   (a stand-in server, support/apt-repo.ts), and no fail2ban (nor python3-systemd), as Proxmox VE comes. While Debian's
//   repository lacks it, up fails naming the repository and what to do; once Debian's has it, up
//   installs it from there although apt-get update still fails;
// - a package ships filter.d/proxmox.conf (as fail2ban does after 1.1.0): ours goes to
//   proxmox.local, bans work with it, and destroy leaves the package's file as the package left it;
// - renaming a host entry is refused before anything changes on the node.

type Node = SandboxHost & { release: string };
let nodes: Node[];
let repo: AptRepoStandIn;
let program: ProgramStack;
const debs: Record<string, string[]> = {};
const original: Record<string, HostState & { packages: string; records: string }> = {};

const PKG = "proxmox-filter-package";
const MISSING = ["fail2ban", "python3-systemd"];
const PACKAGED = "/etc/fail2ban/filter.d/proxmox.conf";
const LOCAL = "/etc/fail2ban/filter.d/proxmox.local";
// A filter as a package would ship it: its own failregex, and an include our .local does not repeat.
const PACKAGED_FILTER = "# Proxmox VE web interface (packaged)\n[INCLUDES]\nbefore = common.conf\n\n[Definition]\nfailregex = ^%(__prefix_line)spackaged-only rhost=<HOST>$\nignoreregex =\n";

/** A Debian package that ships PACKAGED as a conffile, built on this machine. */
function buildFilterPackage(dir: string): string {
  const root = path.join(dir, "pkgroot");
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, "DEBIAN"), { recursive: true });
  fs.mkdirSync(path.join(root, path.dirname(PACKAGED)), { recursive: true });
  fs.writeFileSync(path.join(root, PACKAGED), PACKAGED_FILTER);
  fs.writeFileSync(path.join(root, "DEBIAN", "control"), `Package: ${PKG}\nVersion: 1.0\nArchitecture: all\nMaintainer: proxmox-hardening tests <root@localhost>\nDescription: fail2ban filter for Proxmox VE, as a package ships it\n`);
  fs.writeFileSync(path.join(root, "DEBIAN", "conffiles"), `${PACKAGED}\n`);
  const deb = path.join(dir, `${PKG}.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", "-b", root, deb], { stdio: "ignore" });
  return deb;
}

/** What the packages and our records on a node are: dpkg's view and the records directory. */
async function packagesAndRecords(node: SandboxHost) {
  return {
    packages: await run(node, `dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\\n' ${MISSING.join(" ")} ${PKG} 2>/dev/null || true`),
    records: await run(node, `find ${BEFORE_DIR} -type f 2>/dev/null | sort; true`),
  };
}

const installed = async (node: SandboxHost, pkg: string) => (await run(node, `dpkg-query -W -f '\${db:Status-Abbrev}' ${pkg} 2>/dev/null || true`)).trim();

/** The package's conffile as dpkg knows it: empty when unchanged (dpkg --verify). */
const conffileChanges = (node: SandboxHost) => run(node, `dpkg --verify ${PKG}; true`);

before(async () => {
  await down();
  const inventory = await up({ count: 0, nodes: [{ release: "trixie" }, { release: "bookworm" }] });
  nodes = inventory.hosts as Node[];
  const work = path.resolve(SANDBOX_DIR, "fleet-debs");
  const filterDeb = buildFilterPackage(work);
  repo = await AptRepoStandIn.start(nodes.map((node) => node.release));
  for (const node of nodes) {
    // What Debian's archive has for the node's release, then the node without it, as a Proxmox VE
    // node comes: the program has to install fail2ban and python3-systemd.
    debs[node.name] = [await repackInstalled(node, "fail2ban", work), await repackInstalled(node, "python3-systemd", work)];
    await repo.configure(node);
    await run(node, "DEBIAN_FRONTEND=noninteractive dpkg --purge fail2ban python3-systemd >/dev/null");
    await run(node, `printf '%s' ${shellQuote(fs.readFileSync(filterDeb).toString("base64"))} | base64 -d > /tmp/p.deb && dpkg -i /tmp/p.deb >/dev/null && rm /tmp/p.deb`);
    for (const pkg of MISSING) assert.equal(await installed(node, pkg), "", `${node.name}: ${pkg} is missing`);
    assert.equal(await run(node, `dpkg-query -S ${PACKAGED}`), `${PKG}: ${PACKAGED}\n`);
    original[node.name] = { ...(await hostState(node)), ...(await packagesAndRecords(node)) };
  }
  program = await ProgramStack.create(`test-fleet-${process.pid}`, sandboxConfig(nodes.map((host) => ({ host }))));
}, { timeout: 900_000 });

after(async () => {
  await program?.remove();
  repo?.stop();
  await down();
}, { timeout: 600_000 });

test("no subscription, and Debian's repository lacks a package: up fails naming the enterprise repository, its file and what to do; nothing else changes", { timeout: 900_000 }, async () => {
  const error = await program.stack.up().then(
    () => assert.fail("up succeeded with nowhere to install fail2ban from"),
    (e: Error) => e.message,
  );
  for (const node of nodes) {
    const file = enterpriseSource(node.release).file;
    assert.match(
      error,
      new RegExp(`host ${node.name}, resource host:Packages ${node.name}-packages, field packages\\] apt-get could not install fail2ban, python3-systemd, and apt-get update failed for a repository[^]*apt-get update could not fetch http://enterprise\\.proxmox\\.com/debian/pve \\(configured in ${file.replace(/\./g, "\\.")}\\): 401 Unauthorized\\. That is Proxmox's enterprise repository, which needs a subscription key`),
      `${node.name}: ${error}`,
    );
    assert.match(error, /use the no-subscription repository \(http:\/\/download\.proxmox\.com\/debian\/pve, component pve-no-subscription\)/);
    for (const pkg of MISSING) assert.equal(await installed(node, pkg), "", `${node.name}: ${pkg} still missing`);
    assert.match(await run(node, "ufw status"), /^Status: inactive$/m, `${node.name}: ufw untouched`);
    // The cluster's firewall option does not wait for packages: only ufw's and fail2ban's files are compared.
    const hardeningFiles = (files: Record<string, string>) => Object.entries(files).filter(([file]) => !file.startsWith("/etc/pve/"));
    assert.deepEqual(hardeningFiles((await hostState(node)).files), hardeningFiles(original[node.name].files), `${node.name}: no file of ufw or fail2ban changed`);
  }
});

test("no subscription, Debian's repository has the package: up installs it from there although the enterprise repository still fails, and hardens both nodes", { timeout: 900_000 }, async () => {
  for (const node of nodes) repo.publish(node.release, debs[node.name]);
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  for (const node of nodes) {
    assert.match(result.stdout, new RegExp(`\\[${node.name}\\] installed fail2ban, python3-systemd from the repositories that answered; apt-get update could not fetch http://enterprise\\.proxmox\\.com/debian/pve`));
    for (const pkg of MISSING) assert.equal(await installed(node, pkg), "ii", `${node.name}: ${pkg} installed`);
    assert.match(await run(node, "apt-cache policy fail2ban"), /\*\*\* \S+ 500\n\s+500 http:\/\/deb\.debian\.org\/debian \S+\/main amd64 Packages/, `${node.name}: from Debian's repository`);
    assert.match(await run(node, "ufw status verbose"), /^Status: active$/m);
    assert.match(await run(node, "fail2ban-client status"), /Jail list:\s+(proxmox, sshd|sshd, proxmox)/);
  }
});

test("a package ships filter.d/proxmox.conf: it stays byte for byte, ours is proxmox.local, and the proxmox jail bans with our failregex", { timeout: 900_000 }, async () => {
  for (const node of nodes) {
    assert.equal(await run(node, `cat ${PACKAGED}`), PACKAGED_FILTER, `${node.name}: the package's file as shipped`);
    assert.equal(await conffileChanges(node), "", `${node.name}: dpkg --verify finds the conffile unchanged`);
    assert.match(await run(node, `head -1 ${LOCAL}`), /^# managed by proxmox-hardening/);
    // fail2ban reads the .conf, then the .local: the jail runs our failregex, not the package's.
    const failregex = await run(node, "fail2ban-client get proxmox failregex");
    assert.match(failregex, /pvedaemon/);
    assert.doesNotMatch(failregex, /packaged-only/);
    const attacker = "192.0.2.77"; // only logged, no packet is sent
    for (let i = 0; i < 3; i++) await writePvedaemonFailure(node, attacker);
    const banned = await pollUntil(60_000, async () => (await run(node, "fail2ban-client status proxmox")).includes(attacker), 1_000);
    assert.ok(banned, `${node.name}: ${attacker} banned by the proxmox jail`);
  }
});

test("renaming a host entry: up is refused before any change, saying how to rename; the nodes are untouched; with the name back nothing changes", { timeout: 900_000 }, async () => {
  const [renamed, other] = nodes;
  const traces = Object.fromEntries(await Promise.all(nodes.map(async (node) => [node.name, await writeTraces(node)] as const)));
  const kept = Object.fromEntries(await Promise.all(nodes.map(async (node) => [node.name, await packagesAndRecords(node)] as const)));
  await program.configure(sandboxConfig([{ host: { ...renamed, name: `${renamed.name}new` } }, { host: other }]));
  const error = await program.stack.up().then(
    () => assert.fail("the renamed host's up succeeded"),
    (e: Error) => e.message,
  );
  assert.match(
    error,
    new RegExp(`host ${renamed.name}new, resource host:Preflight ${renamed.name}new-preflight[^\\n]*\\] refused before the first change on this host, so nothing was changed on it:\\s+name: this node is host entry ${renamed.name} of this stack`),
  );
  assert.match(error, new RegExp(`set the name back to ${renamed.name}\\. To rename it anyway: remove the entry, run \`pulumi up\` \\(which rolls ${renamed.name} back\\), then add it as ${renamed.name}new`));
  for (const node of nodes) {
    assert.deepEqual(writesBetween(traces[node.name], await writeTraces(node)), [], `${node.name}: nothing written by the refused up`);
    assert.deepEqual(await packagesAndRecords(node), kept[node.name], `${node.name}: packages and records as before`);
  }
  await program.configure(sandboxConfig(nodes.map((host) => ({ host }))));
  const back = await program.stack.up();
  // At most the refused entry's component leaves the state (it holds nothing on a node).
  const { same, delete: deleted = 0, ...others } = back.summary.resourceChanges ?? {};
  assert.deepEqual(others, {}, "with the old name back, up creates and updates nothing");
  assert.ok((same ?? 0) > 0 && deleted <= 1, `deleted ${deleted}`);
  for (const node of nodes) assert.deepEqual(writesBetween(traces[node.name], await writeTraces(node)), [], `${node.name}: nothing written by that up either`);
});

test("re-addressing both nodes (same host keys, now their IPv6 addresses): an update in place that writes nothing on them", { timeout: 900_000 }, async () => {
  const traces = Object.fromEntries(await Promise.all(nodes.map(async (node) => [node.name, await writeTraces(node)] as const)));
  const config = sandboxConfig(nodes.map((host) => ({ host })));
  await program.configure({ ...config, hosts: config.hosts.map((host, index) => ({ ...host, address: nodes[index].address6 })) });
  const preview = await program.stack.preview();
  assert.equal(preview.changeSummary.replace ?? 0, 0, "nothing is replaced");
  assert.equal(preview.changeSummary.delete ?? 0, 0, "nothing is deleted");
  assert.ok((preview.changeSummary.update ?? 0) > 0, `the resources take the new addresses: ${JSON.stringify(preview.changeSummary)}`);
  assert.equal((await program.stack.up()).summary.result, "succeeded");
  for (const node of nodes) assert.deepEqual(writesBetween(traces[node.name], await writeTraces(node)), [], `${node.name}: nothing written by the re-addressing up`);
  // The new addresses are used from now on: a refresh reads every resource through them, and destroy below goes there too.
  assert.equal((await program.stack.refresh()).summary.result, "succeeded");
});

test("a second stack for the same nodes: its up is refused on each node, naming the stack that manages it, and writes nothing", { timeout: 900_000 }, async () => {
  const traces = Object.fromEntries(await Promise.all(nodes.map(async (node) => [node.name, await writeTraces(node)] as const)));
  const second = await ProgramStack.create(`test-fleet-second-${process.pid}`, sandboxConfig(nodes.map((host) => ({ host }))));
  try {
    // --continue-on-error: every node's refusal is reported, not only the first to fail.
    const refused = await second.stack.up({ continueOnError: true }).then(() => "succeeded", errorText);
    for (const node of nodes) {
      assert.match(refused, new RegExp(`is managed by stack proxmox-hardening/${program.stack.name} \\(host entry ${node.name}\\)[^\\n]*: nothing was changed`), node.name);
      assert.deepEqual(writesBetween(traces[node.name], await writeTraces(node)), [], `${node.name}: nothing written by the second stack`);
    }
  } finally {
    await second.remove();
  }
  for (const node of nodes) assert.deepEqual(writesBetween(traces[node.name], await writeTraces(node)), [], `${node.name}: nor by removing that stack`);
});

test("destroy: each node as before, fail2ban and python3-systemd purged again, the package's proxmox.conf as the package left it and no .local", { timeout: 900_000 }, async () => {
  const result = await program.stack.destroy();
  assert.equal(result.summary.result, "succeeded");
  for (const node of nodes) {
    const now = { ...(await hostState(node)), ...(await packagesAndRecords(node)) };
    assert.deepEqual(now, original[node.name], `${node.name}: as before the first up`);
    assert.equal(await conffileChanges(node), "", `${node.name}: the conffile as shipped`);
    assert.equal((await hostExec(node, `test -e ${LOCAL}`)).code, 1, `${node.name}: no ${LOCAL}`);
  }
});
