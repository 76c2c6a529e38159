// Profile pass only (bench/profile.ts): preloaded with NODE_OPTIONS=--require into every Node
// process the pulumi CLI starts (the program's, the provider plugin's), it appends to
// $PBN_STAMP_FILE when the process started and when it reached the points that split the fixed
// cost of an engine run: the program's entry required and loaded (index.ts, after the SDK and
// ts-node), the provider listening (after the SDK) and our providers loaded. Plain JavaScript:
// it runs before any TypeScript hook. One appendFileSync per line keeps lines whole.
const { appendFileSync } = require("node:fs");
const Module = require("node:module");
const { join } = require("node:path");

const file = process.env.PBN_STAMP_FILE;
const script = process.argv[1] ?? "";
const role = /cmd[/\\]run/.test(script) ? "program" : /dynamic-provider/.test(script) ? "provider" : process.execArgv.some((arg) => arg === "-e" || arg === "--eval") ? "eval" : "other";

function stamp(mark, at = Date.now()) {
  // CPU ms of this process so far: on the shared machine, wall times between marks are mostly waiting for a core.
  const { user, system } = process.cpuUsage();
  if (file) appendFileSync(file, JSON.stringify({ pid: process.pid, role, mark, at, cpu: (user + system) / 1000 }) + "\n");
}

if (file) {
  stamp("start", performance.timeOrigin);
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    const what = role === "program" && [join(process.cwd(), "index.ts"), join(process.cwd(), "index")].includes(request) ? "program" : role === "provider" && /providers[/\\]registry$/.test(request) ? "providers" : undefined;
    if (!what) return load.apply(this, arguments);
    stamp(`${what}-load`);
    try {
      return load.apply(this, arguments);
    } finally {
      stamp(`${what}-loaded`);
    }
  };
  if (role === "provider") {
    // The dynamic provider prints its port when it listens: the engine can use it from then on.
    const write = process.stdout.write;
    process.stdout.write = function (...args) {
      process.stdout.write = write;
      stamp("listening");
      return write.apply(this, args);
    };
  }
  process.on("exit", () => stamp("exit"));
}
