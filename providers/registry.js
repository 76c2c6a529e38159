// The provider process's entry. The shim stored in every resource's state (providers/core/shim.ts)
// requires "providers/registry" without an extension, after tsx/cjs: Node tries ".js" before
// tsx's ".ts", so this file is what it gets, from stacks of every release; TypeScript and tsx
// importing "./registry" from .ts files get registry.ts (the list of kinds) as before. Plain
// JavaScript because it is the one file loaded before any bundle: it loads registry.ts's bundle
// (providers/core/bundle.ts), or registry.ts itself through tsx if no bundle can be had.
const { join } = require("node:path");
const { loadBundled } = require("./core/bundle");

module.exports = loadBundled(join(__dirname, "registry.ts"), () => require("./registry.ts"));
