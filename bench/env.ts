import { resolve } from "node:path";

// Imported first by bench/run.ts: the sandbox module reads these when it loads.
// The benchmark gets a sandbox of its own by default (namespaces pbn-*, files in
// .sandbox-bench/), so it never removes a developer's or a test run's hosts.
process.env.PHS_PREFIX ??= "pbn-";
process.env.PHS_SANDBOX_DIR ??= resolve(__dirname, "..", ".sandbox-bench");
