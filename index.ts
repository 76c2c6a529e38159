import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";

// What `pulumi up` and `preview` run. The program itself is providers/program.ts, loaded as one
// JavaScript bundle made and checked at each run (providers/core/bundle.ts: a fraction of the
// time the SDK's ts-node takes over its files), or from its sources if no bundle can be had.
export = async () => {
  // The engine starts our provider process (Node and the SDK, ~1 s) when the first resource asks
  // for it, which is after the program has loaded. Calling a function the dynamic provider does
  // not have makes the engine start it now, so the two load side by side; the refusal ("unknown
  // function", at debug level only) is the expected answer. A few turns of the event loop let
  // the call go out before the synchronous loads below (ts-node compiling bundle.ts, then the
  // bundle) take the thread.
  void pulumi.runtime.invoke("pulumi-nodejs:dynamic:warmUp", {}).catch(() => undefined);
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadBundled } = require("./providers/core/bundle") as typeof import("./providers/core/bundle");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return loadBundled<typeof import("./providers/program")>(join(__dirname, "providers", "program.ts"), () => require("./providers/program"));
};
