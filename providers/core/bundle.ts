import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";

// Every engine run loads our TypeScript twice: the program (under the SDK's ts-node, which
// transpiles each of ~35 files with the TypeScript compiler: 1.8-3.7 s on the 2-core machine)
// and the providers (under tsx: 0.6-0.9 s). One JavaScript file per entry, made by esbuild
// (tsx's own transpiler), loads in 0.1-0.3 s. It is made at run time, never by a step to
// remember: cached under .cache/bundles/, and used only while esbuild's version and every
// source file it was made from are byte for byte what it records, so it cannot be stale.
// Anything failing here falls back to loading the sources as before.

/** Options that change the output; part of the key, so a change of them rebuilds. */
const BUILD = { bundle: true, platform: "node", format: "cjs", target: "node20", sourcemap: true, sourcesContent: false, logLevel: "silent" } as const;

/**
 * Packages copied into the bundle: zod, pure JavaScript in ~100 files (0.7-1 s to load them one by
 * one on the busy machine), with no instance shared outside our modules. Every other package
 * stays a require of node_modules: the SDK must be the one the runtime loaded, ssh2 has native
 * parts. An inlined package's package.json is an input, so another version rebuilds.
 */
const INLINED = ["zod"];

/**
 * The module the bundle must not copy: the provider shim's functions are serialized into every
 * resource's state from their compiled text, so it stays loaded from its source, compiled as
 * before by the .ts hook of the process (ts-node in the program), and its text in state stays
 * the same. The bundle requires it by absolute path.
 */
const SHIM = join("providers", "core", "shim.ts");

export interface Manifest {
  esbuild: string;
  entry: string;
  /** sha256 of each input file's content, by path relative to the root. */
  inputs: Record<string, string>;
  /** The bundle's file name, under the cache directory. */
  bundle: string;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** The files besides the sources that change esbuild's output. */
const CONFIG_FILES = ["tsconfig.json", "package.json"];

/** Name of the bundle made from these inputs: a digest of esbuild's version, the options and every input. */
export function bundleName(entry: string, esbuildVersion: string, inputs: Record<string, string>): string {
  const key = sha256(JSON.stringify({ esbuildVersion, BUILD, SHIM, INLINED, entry, inputs: Object.entries(inputs).sort(([a], [b]) => a.localeCompare(b)) }));
  return `${basename(entry).replace(/\.ts$/, "")}-${key.slice(0, 24)}.js`;
}

/** Digest of each file now, or undefined for a file that is gone. */
function currentInputs(root: string, files: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(files.map((file) => {
    const path = join(root, file);
    return [file, existsSync(path) ? sha256(readFileSync(path)) : undefined];
  }));
}

/** Whether a manifest still describes the sources as they are (pure: the digests are read by the caller). */
export function upToDate(manifest: Manifest, esbuildVersion: string, now: Record<string, string | undefined>): boolean {
  if (manifest.esbuild !== esbuildVersion) return false;
  if (Object.entries(manifest.inputs).some(([file, digest]) => now[file] !== digest)) return false;
  return manifest.bundle === bundleName(manifest.entry, esbuildVersion, manifest.inputs);
}

/** Writes through a temporary file and a rename: a concurrent reader sees the old file or the new one, never half of one. */
function writeAtomically(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The path of an up-to-date bundle of `entry` (a .ts file under `root`), made now if there is none. */
export function bundleOf(root: string, entry: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only here, when a bundle is wanted
  const esbuild = require("esbuild") as typeof import("esbuild");
  const cache = join(root, ".cache", "bundles");
  const name = relative(root, entry);
  const manifestFile = join(cache, `${name.replace(/[/\\]/g, "_")}.json`);
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Manifest;
    const file = join(cache, manifest.bundle);
    if (manifest.entry === name && existsSync(file) && upToDate(manifest, esbuild.version, currentInputs(root, Object.keys(manifest.inputs)))) return file;
  }
  const result = esbuild.buildSync({
    ...BUILD,
    entryPoints: [entry],
    absWorkingDir: root,
    write: false,
    metafile: true,
    outdir: cache,
    // esbuild's synchronous API takes no plugins: the shim's imports stay as written, then point at its file.
    external: ["*/shim", ...externalPackages(root)],
  });
  const sources = Object.keys(result.metafile.inputs).filter((file) => !file.includes("node_modules"));
  sources.push(...INLINED.map((name) => join("node_modules", name, "package.json")));
  const inputs = Object.fromEntries(Object.entries(currentInputs(root, [...sources, ...CONFIG_FILES.filter((file) => existsSync(join(root, file)))])).map(([file, digest]) => [file, digest ?? ""]));
  const bundle = bundleName(name, esbuild.version, inputs);
  mkdirSync(cache, { recursive: true });
  const js = result.outputFiles.find((out) => out.path.endsWith(".js"));
  const map = result.outputFiles.find((out) => out.path.endsWith(".js.map"));
  if (!js) throw new Error(`esbuild made no JavaScript for ${name}`);
  const base = basename(js.path);
  let text = js.text;
  for (const specifier of shimImports(root, result.metafile)) text = text.split(`require(${JSON.stringify(specifier)})`).join(`require(${JSON.stringify(join(root, SHIM))})`);
  // The source map keeps error stacks pointing at the .ts files; its name follows the bundle's.
  if (map) writeAtomically(join(cache, `${bundle}.map`), map.text);
  writeAtomically(join(cache, bundle), text.replace(`//# sourceMappingURL=${base}.map`, `//# sourceMappingURL=${bundle}.map`));
  writeAtomically(manifestFile, JSON.stringify({ esbuild: esbuild.version, entry: name, inputs, bundle } satisfies Manifest, null, 1));
  pruneOlderBundles(cache, bundle);
  return join(cache, bundle);
}


/**
 * Removes this entry's earlier bundles, once an hour old: each change of a source makes a new one
 * (~1 MB), and a process that read an earlier manifest a moment ago may still be loading its file.
 */
function pruneOlderBundles(cache: string, current: string): void {
  const prefix = current.replace(/-[0-9a-f]+\.js$/, "-");
  for (const file of readdirSync(cache)) {
    if (!file.startsWith(prefix) || file.startsWith(current)) continue;
    const path = join(cache, file);
    if (Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { force: true });
  }
}

/** Every dependency of the project but the inlined ones, with its subpaths (e.g. @pulumi/pulumi/runtime/state). */
function externalPackages(root: string): string[] {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies?: object; devDependencies?: object };
  const names = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})].filter((name) => !INLINED.includes(name));
  return names.flatMap((name) => [name, `${name}/*`]);
}

/** How the bundled files import the shim, each checked to be the shim's file (anything else ending in /shim is refused). */
export function shimImports(root: string, metafile: import("esbuild").Metafile): string[] {
  const specifiers = new Set<string>();
  for (const [input, { imports }] of Object.entries(metafile.inputs)) {
    for (const { path, external } of imports) {
      if (!external || !path.endsWith("/shim")) continue;
      if (resolve(root, dirname(input), `${path}.ts`) !== join(root, SHIM)) throw new Error(`${input} imports ${path}, which is not ${SHIM}`);
      specifiers.add(path);
    }
  }
  return [...specifiers];
}

/**
 * Loads `entry` (an absolute .ts path) from its bundle, or with `fallback` (the sources through
 * the .ts hook already registered) when no bundle can be had: no esbuild, a read-only
 * directory, a source esbuild refuses (the fallback then reports it as before). An error the
 * module itself throws while loading is the program's own and is not retried.
 */
export function loadBundled<T>(entry: string, fallback: () => T): T {
  let file: string;
  try {
    file = bundleOf(findRoot(dirname(entry)), entry);
  } catch {
    return fallback();
  }
  return requireCompiled(file) as T;
}

/**
 * require() of a bundle, without the process's .ts hook: tsx also handles .js files and would
 * scan the whole bundle before Node compiles it (0.27 against 0.13 CPU s for the providers').
 */
function requireCompiled(file: string): unknown {
  const cached = require.cache[file];
  if (cached) return cached.exports;
  const bundle = new Module(file, module);
  bundle.filename = file;
  bundle.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  require.cache[file] = bundle;
  try {
    (bundle as unknown as { _compile(code: string, file: string): void })._compile(readFileSync(file, "utf8"), file);
  } catch (error) {
    delete require.cache[file];
    throw error;
  }
  bundle.loaded = true;
  return bundle.exports;
}

/** The project root: the nearest directory above `dir` with a package.json. */
function findRoot(dir: string): string {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, "package.json"))) return at;
    if (dirname(at) === at) throw new Error(`no package.json above ${dir}`);
  }
}
