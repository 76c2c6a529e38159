import assert from "node:assert/strict";
import { test } from "node:test";
import { skipMappingPromiseStacks } from "../../providers/core/promise-stacks";

// Internal to the SDK (not in its typings): the function whose stacks are left unmapped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable") as { debuggablePromise: <T>(p: Promise<T>, ctx: string) => Promise<T> };

test("the SDK's promise stacks skip the installed formatter; every other stack, ours of the same name too, keeps it", async () => {
  const installed = Error.prepareStackTrace;
  const formatted: string[] = [];
  Error.prepareStackTrace = skipMappingPromiseStacks((error) => {
    formatted.push(String(error));
    return "mapped";
  });
  try {
    const tracked = Promise.resolve(1);
    assert.equal(await debuggablePromise(tracked, "a resource's output"), 1);
    const stack = (tracked as unknown as { _debugStackTrace: string })._debugStackTrace;
    assert.match(stack, /^Error\n    at debuggablePromise \(.*[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js:\d+:\d+\)\n    at /);
    assert.deepEqual(formatted, []);

    assert.equal(new Error("ours").stack, "mapped");
    const sameName = { debuggablePromise: () => new Error("also ours").stack };
    assert.equal(sameName.debuggablePromise(), "mapped");
    assert.deepEqual(formatted, ["Error: ours", "Error: also ours"]);
  } finally {
    Error.prepareStackTrace = installed;
  }
});
