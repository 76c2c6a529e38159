import { join } from "node:path";
import { loadBundled } from "./providers/core/bundle";

// What `pulumi up` and `preview` run. The program itself is providers/program.ts, loaded as one
// JavaScript bundle made and checked at each run (providers/core/bundle.ts: a fraction of the
// time the SDK's ts-node takes over its files), or from its sources if no bundle can be had.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export = loadBundled<typeof import("./providers/program")>(join(__dirname, "providers", "program.ts"), () => require("./providers/program"));
