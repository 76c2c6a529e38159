import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, repoRoot } from "../scripts/engine";

// The real Pulumi engine (CLI, Node.js language host, dynamic-provider
// launcher) driving a trivial dynamic resource through its whole life.

let stack: Stack | undefined;

after(async () => {
  if (stack) {
    await stack.destroy().catch(() => undefined);
    await stack.workspace.removeStack(stack.name).catch(() => undefined);
  }
}, { timeout: 120_000 });

test("engine: preview, up, no-op preview and destroy of a dynamic resource", { timeout: 600_000 }, async () => {
  stack = await localStack(join(repoRoot, "test", "fixtures", "smoke-project"), `smoke-${process.pid}`);
  await stack.setConfig("message", { value: "hello" });

  const preview = await stack.preview();
  assert.equal(preview.changeSummary.create, 2, "stack + echo resource to create");

  const up = await stack.up();
  assert.equal(up.summary.result, "succeeded");
  assert.equal(up.summary.resourceChanges?.create, 2);
  assert.equal(up.outputs.message.value, "hello");

  const again = await stack.preview();
  assert.deepEqual(again.changeSummary, { same: 2 });

  const destroyed = await stack.destroy();
  assert.equal(destroyed.summary.result, "succeeded");
  assert.equal(destroyed.summary.resourceChanges?.delete, 2);
  const state = await stack.exportStack();
  assert.equal(state.deployment.resources?.length ?? 0, 0);
});
