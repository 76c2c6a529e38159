import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { down, SandboxHost, up } from "../sandbox";
import { repoRoot } from "../scripts/engine";
import { run } from "./support/host-state";
import { ProgramStack, sandboxConfig } from "../scripts/program-stack";

// Issue 17.1: adding a resource kind takes its own folder plus one entry in providers/registry.ts.
// This does exactly that to a copy of the project (the smallest kind, test/fixtures/new-kind),
// type-checks the copy and runs the new kind through the real engine against a sandbox host.
// A namespace host is enough: the kind only runs `hostname`, the same on every release.

const fixture = join(repoRoot, "test", "fixtures", "new-kind");
let copy: string;
let pve1: SandboxHost;
let program: ProgramStack | undefined;

/** The registration the walk-through in docs/DEVELOPING.md asks for: an import and one list entry. */
function register(registry: string): string {
  const withImport = registry.replace(/^(import .*\n)(?!import )/m, `$1import { exampleHostname } from "./example/provider";\n`);
  const registered = withImport.replace(/^const implementations = \[\n/m, "$&  exampleHostname,\n");
  assert.notEqual(registered, withImport, "registry.ts has the list the walk-through names");
  return registered;
}

before(async () => {
  copy = mkdtempSync(join(tmpdir(), "phs-new-kind-"));
  for (const entry of ["providers", "package.json", "tsconfig.json", "Pulumi.yaml"]) cpSync(join(repoRoot, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"));
  cpSync(join(fixture, "example"), join(copy, "providers", "example"), { recursive: true });
  cpSync(join(fixture, "index.ts"), join(copy, "index.ts"));
  const registry = join(copy, "providers", "registry.ts");
  writeFileSync(registry, register(readFileSync(registry, "utf8")));
  await down();
  // A namespace host: the new kind only runs `hostname`, the same on every release.
  [pve1] = (await up({ count: 1 })).hosts;
}, { timeout: 300_000 });

after(async () => {
  await program?.remove();
  await down();
  rmSync(copy, { recursive: true, force: true });
}, { timeout: 300_000 });

test("the new kind type-checks with nothing but its folder and its registry entry", { timeout: 600_000 }, () => {
  // tsc's own include list: the copy's program, providers (the new folder among them).
  try {
    execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", copy], { stdio: "pipe", timeout: 540_000 });
  } catch (error) {
    assert.fail(`tsc on the copy with the new kind:\n${String((error as { stdout?: Buffer }).stdout ?? error)}`);
  }
});

test("the new kind runs through the engine: up reads the node, a second preview changes nothing, destroy removes it", { timeout: 600_000 }, async () => {
  program = await ProgramStack.create(`new-kind-${process.pid}`, sandboxConfig([{ host: pve1 }]), copy);
  const result = await program.stack.up();
  assert.equal(result.summary.result, "succeeded");
  assert.equal(result.outputs.hostnames.value[pve1.name], (await run(pve1, "hostname")).trim(), "the output is what the node answers");
  const state = await program.stack.exportStack();
  assert.ok(state.deployment.resources.some((resource: { type: string }) => resource.type === "pulumi-nodejs:dynamic/proxmox-hardening:exampleHostname"));
  assert.deepEqual((await program.stack.preview()).changeSummary, { same: 2 });
  const destroyed = await program.stack.destroy();
  assert.equal(destroyed.summary.resourceChanges?.delete, 2);
});
