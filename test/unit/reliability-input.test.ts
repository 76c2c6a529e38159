import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseProgramConfig, unknownConfigKeys } from "../../providers/host/config";
import { credentialsFromConfig } from "../../providers/ssh/credentials";
import { atomicWriteScript } from "../../providers/ssh/files";
import { implementationOf } from "../../providers/registry";
import { assertNamed, CATEGORIES, Category, CONFIG_CASES, ENGINE_PREVIEWS, HostEntry, inputFigures, RESOURCE_CASES } from "../support/bad-inputs";
import { checkedSection, DOC_PATH, expectedCheckedSection } from "../support/reliability-report";

// Issue 8, bad input: every case of the table is refused by the program's
// config parser or the provider's check, naming host, resource and field.
// test/reliability-preview.test.ts runs examples of every category through
// the real engine's preview against a sandbox host.

const STACK = "prod";
/** A host entry for the pure checks (a documentation address, a syntactically valid key). */
const TABLE_HOST: HostEntry = { name: "pve1", address: "198.51.100.11", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVgV3Q0m2Fq1sVZ0xvHhWZ5nZ4mM0m2b3fQ1p0wQ3bZ" };

test("the table covers every category with at least 60 bad inputs", () => {
  const figures = inputFigures();
  assert.ok(figures.configCases + figures.resourceCases >= 60, `${figures.configCases + figures.resourceCases} cases`);
  for (const category of Object.keys(CATEGORIES) as Category[]) {
    assert.ok(figures.byCategory[category].config > 0, `stack config cases for ${category}`);
  }
  const ids = [...CONFIG_CASES, ...RESOURCE_CASES].map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, "case ids are unique");
  const engineCategories = new Set(ENGINE_PREVIEWS.flatMap((p) => p.categories));
  for (const category of Object.keys(CATEGORIES)) assert.ok(engineCategories.has(category as Category), `an engine preview covers ${category}`);
});

test("every bad stack config is refused by the program's parser, naming host, resource and field", async (t) => {
  for (const c of CONFIG_CASES) {
    await t.test(`${c.category}: ${c.id}`, () => {
      let message = "";
      assert.throws(() => parseProgramConfig(c.config(TABLE_HOST), STACK), (error: Error) => {
        message = error.message;
        return true;
      });
      assert.match(message, /^invalid configuration \(\d+ problems?\):/);
      assertNamed(message, c.expect(TABLE_HOST), STACK, "proxmox-hardening:", c.id);
      assert.match(message, /nothing was sent to any host/);
    });
  }
});

test("every bad resource input is refused by the provider's check, naming host, resource and field", async (t) => {
  for (const c of RESOURCE_CASES) {
    await t.test(`${c.category}: ${c.id}`, async () => {
      // The program gives every resource its project and stack (providers/core/shim.ts).
      const result = await implementationOf(c.kind).check({}, { owner: `proxmox-hardening/${STACK}`, ...c.inputs(TABLE_HOST) });
      assert.ok(result.failures && result.failures.length > 0, `${c.id} was accepted`);
      const expectation = c.expect(TABLE_HOST);
      const reasons = result.failures.map((failure) => failure.reason).join("\n");
      assertNamed(reasons, [expectation], STACK, "", c.id);
      const failure = result.failures.find((f) => f.reason.includes(`field ${expectation.field}]`));
      assert.equal(failure?.property, expectation.field.split(/[.[]/)[0], `${c.id}: the property Pulumi shows`);
    });
  }
});

test("the configs of the engine previews are refused by the parser with every expected problem", async (t) => {
  for (const preview of ENGINE_PREVIEWS) {
    await t.test(preview.id, () => {
      assert.throws(() => parseProgramConfig(preview.config(TABLE_HOST), STACK), (error: Error) => {
        assertNamed(error.message, preview.expect(TABLE_HOST), STACK, "proxmox-hardening:", preview.id);
        return true;
      });
    });
  }
});

test("unknown keys of the project's config are reported by name; credential keys and other namespaces are not", () => {
  const keys = ["proxmox-hardening:hosts", "proxmox-hardening:fail2bann", "proxmox-hardening:sshPrivateKey", "proxmox-hardening:hostCredentials", "aws:region", "proxmox-hardening:ufw"];
  assert.deepEqual(unknownConfigKeys(keys, "proxmox-hardening"), ["fail2bann"]);
});

test("a malformed hostCredentials secret is refused without showing any of it", () => {
  const secret = "s3cr3t-value-never-shown";
  for (const raw of [secret, `{"pve1": {"password": ${JSON.stringify(secret)}, "colour": 1}}`, `{"pve1": ${JSON.stringify(secret)}}`, `{"pve1": {"password": 12345, "x": ${JSON.stringify(secret)}}}`]) {
    assert.throws(
      () => credentialsFromConfig({ get: (key) => (key === "hostCredentials" ? raw : undefined) }),
      (error: Error) => /hostCredentials/.test(error.message) && !error.message.includes(secret) && !error.message.includes("12345"),
      raw.slice(0, 20),
    );
  }
});

test("an atomic write whose input arrives short or empty keeps the old file and leaves no temp file", () => {
  const dir = mkdtempSync(join(tmpdir(), "prl-write-"));
  try {
    const path = join(dir, "jail.local");
    writeFileSync(path, "old\n");
    const content = "new content\n".repeat(100);
    const script = atomicWriteScript(path, "0644", `${process.getuid!()}:${process.getgid!()}`, content);
    for (const input of [content.slice(0, 500), "", content.slice(0, -1)]) {
      assert.throws(() => execFileSync("sh", ["-c", script], { input, stdio: ["pipe", "pipe", "pipe"] }), /incomplete input/);
      assert.equal(readFileSync(path, "utf8"), "old\n");
      assert.deepEqual(readdirSync(dir), ["jail.local"], "no temp file");
    }
    writeFileSync(join(dir, ".proxmox-hardening.stale1"), "left by a writer killed outright");
    execFileSync("sh", ["-c", script], { input: content });
    assert.equal(readFileSync(path, "utf8"), content);
    assert.deepEqual(readdirSync(dir), ["jail.local"], "the stale temp file is gone");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the committed docs/RELIABILITY.md matches what the suite's plan and its last run's counts render", () => {
  const committed = readFileSync(DOC_PATH, "utf8");
  assert.equal(
    checkedSection(committed),
    expectedCheckedSection(),
    "docs/RELIABILITY.md is stale: run `node --import tsx test/support/reliability-report.ts` and commit it with docs/reliability-figures.json",
  );
});

