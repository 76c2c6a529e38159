import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { bundleOf, loadBundled, Manifest, upToDate } from "../../providers/core/bundle";

// The run-time bundles of the program and the providers (providers/core/bundle.ts): a change to
// any source takes effect at the next load, a deleted cache is rebuilt, the shim stays its own
// source file, and anything esbuild refuses falls back to the sources.

const repoRoot = join(__dirname, "..", "..");
const project = mkdtempSync(join(tmpdir(), "phs-bundle-"));
after(() => rmSync(project, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(join(project, file, ".."), { recursive: true });
  writeFileSync(join(project, file), text);
}

write("package.json", JSON.stringify({ dependencies: { "@pulumi/pulumi": "*", zod: "*" } }));
symlinkSync(join(repoRoot, "node_modules"), join(project, "node_modules"));
write("providers/core/shim.ts", "export const shimId = Math.random();\n");
write("providers/core/value.ts", 'export const value: string = "one";\n');
write("providers/entry.ts", 'import { value } from "./core/value";\nimport { shimId } from "./core/shim";\nimport { z } from "zod";\nexport const answer = { value, shimId, zod: typeof z.string };\n');
const entry = join(project, "providers", "entry.ts");

/** A fresh load of the bundle, as a new process would do it. */
function load(file: string): { answer: { value: string; shimId: number; zod: string } } {
  delete require.cache[file];
  return loadBundled(entry, () => assert.fail("no bundle"));
}

test("a bundle is made on a cold cache, reused while the sources are the same, and remade when one changes", () => {
  const first = bundleOf(project, entry);
  assert.equal(load(first).answer.value, "one");
  assert.equal(load(first).answer.zod, "function", "zod is inlined");
  assert.doesNotMatch(readFileSync(first, "utf8"), /require\("zod"\)/);
  assert.equal(bundleOf(project, entry), first, "same sources: same bundle");

  write("providers/core/value.ts", 'export const value: string = "two";\n');
  const second = bundleOf(project, entry);
  assert.notEqual(second, first);
  assert.equal(load(second).answer.value, "two", "the changed file takes effect");

  rmSync(join(project, ".cache"), { recursive: true });
  assert.equal(load(bundleOf(project, entry)).answer.value, "two", "a deleted cache is rebuilt");
});

test("the shim is not copied into the bundle: the bundle requires its source file, so its compiled text stays the same", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const shim = require(join(project, "providers", "core", "shim.ts")) as { shimId: number };
  const file = bundleOf(project, entry);
  assert.match(readFileSync(file, "utf8"), new RegExp(`require\\(${JSON.stringify(join(project, "providers", "core", "shim.ts")).replace(/[.]/g, "\\.")}\\)`));
  assert.equal(load(file).answer.shimId, shim.shimId, "one shim module, shared with the sources");
});

test("a manifest is stale when esbuild's version or any input's digest differs", () => {
  const manifest = JSON.parse(readFileSync(join(project, ".cache", "bundles", "providers_entry.ts.json"), "utf8")) as Manifest;
  const digests = { ...manifest.inputs };
  assert.equal(upToDate(manifest, manifest.esbuild, digests), true);
  assert.equal(upToDate(manifest, "0.0.1", digests), false);
  assert.equal(upToDate(manifest, manifest.esbuild, { ...digests, "providers/core/value.ts": "0".repeat(64) }), false);
  assert.equal(upToDate(manifest, manifest.esbuild, { ...digests, "providers/core/value.ts": undefined }), false, "a deleted input");
});

test("a rebuild removes the entry's earlier bundles once they are an hour old, not younger ones (a process may be loading one)", () => {
  const young = bundleOf(project, entry);
  write("providers/core/value.ts", 'export const value: string = "three";\n');
  const old = bundleOf(project, entry);
  const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
  utimesSync(old, hoursAgo, hoursAgo);
  write("providers/core/value.ts", 'export const value: string = "four";\n');
  const current = bundleOf(project, entry);
  assert.equal(existsSync(old), false, "the hour-old bundle is gone");
  assert.equal(existsSync(young), true, "the young one stays");
  assert.equal(load(current).answer.value, "four");
});

test("a source esbuild refuses falls back to the sources; an error the module throws is its own and is not retried", () => {
  write("providers/core/value.ts", "export const value: string = ;\n");
  let fellBack = 0;
  assert.equal(loadBundled(entry, () => (fellBack++, "from sources")), "from sources");
  assert.equal(fellBack, 1);

  write("providers/core/value.ts", 'throw new Error("bad config");\nexport const value = "";\n');
  assert.throws(() => loadBundled(entry, () => (fellBack++, "from sources")), /bad config/);
  assert.equal(fellBack, 1, "not loaded a second time from the sources");
});
