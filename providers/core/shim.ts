import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { Kind } from "./kind";

// Pulumi stores a dynamic resource's provider code in state, serialized from
// the closure, and runs that stored code for delete even after the program
// changed. We keep the stored code to this tiny, stable shim: it loads the
// project's current provider implementation by kind, in the provider process,
// so state never carries our modules, zod or ssh2 by value, every resource
// shares one module instance (and so one SSH connection per host), and no
// credential is ever captured in a closure.

/** The project root as the program sees it; the last place the shim looks. */
const programRoot = require("path").resolve(__dirname, "..", "..");

/**
 * One shim object per kind: the SDK serializes a provider once per object, so
 * a new object for every resource would serialize the same text hundreds of
 * times on a fleet (the text, and so existing state, is unchanged).
 */
const shims = new Map<string, pulumi.dynamic.ResourceProvider>();

export function shimProvider(kind: string): pulumi.dynamic.ResourceProvider {
  let shim = shims.get(kind);
  if (!shim) {
    shim = newShim(kind);
    shims.set(kind, shim);
  }
  return shim;
}

function newShim(kind: string): pulumi.dynamic.ResourceProvider {
  const root: string = programRoot;
  // Everything these functions capture must serialize as plain values: `kind` and `root` only.
  const load = () => {
    const path = require("path");
    const fs = require("fs");
    // The engine starts the provider in the project directory; an override and
    // the root recorded at deploy time cover stacks run from elsewhere.
    const candidates = [process.env.PROXMOX_HARDENING_ROOT, process.cwd(), root].filter((dir): dir is string => !!dir);
    const projectRoot = candidates.find((dir) => fs.existsSync(path.join(dir, "providers", "registry.ts")));
    if (!projectRoot) throw new Error(`proxmox-hardening providers not found in ${candidates.join(", ")}; set PROXMOX_HARDENING_ROOT to the project directory`);
    require(require.resolve("tsx/cjs", { paths: [projectRoot] }));
    return require(path.join(projectRoot, "providers", "registry")).implementationOf(kind);
  };
  return {
    configure: (req) => load().configure(req),
    check: (olds, news) => load().check(olds, news),
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    read: (id, props) => load().read(id, props),
    update: (id, olds, news) => load().update(id, olds, news),
    delete: (id, props) => load().delete(id, props),
  };
}

const MODULE = "proxmox-hardening";
const typeNameOf = (kind: string) => kind.replace(":", "");

/** A kind's type as Pulumi records it in URNs and state: `pulumi-nodejs:dynamic/proxmox-hardening:<kind without ':'>`. */
export function typeTokenOf(kind: string): string {
  return `pulumi-nodejs:dynamic/${MODULE}:${typeNameOf(kind)}`;
}

/** What a resource class takes: a kind's inputs without those the class fills in itself. */
export type ResourceArgs<S extends z.ZodType> = Omit<z.input<S>, "label" | "owner">;

/**
 * The resource class of a kind: inputs are the args plus the name (for messages) and the
 * project and stack. `previous` (what the host had before) and the given `outputs` are outputs
 * only: the SDK gives a resource only the properties it registered, so each is registered empty.
 */
export function dynamicResource<Name extends string, S extends z.ZodType>(kind: Kind<Name, S>, outputs: readonly string[] = []) {
  const typeName = typeNameOf(kind.name);
  const empty = Object.fromEntries(["previous", ...outputs].map((output) => [output, undefined]));
  return class extends pulumi.dynamic.Resource {
    declare readonly previous: pulumi.Output<unknown>;
    constructor(name: string, args: { [K in keyof ResourceArgs<S>]: pulumi.Input<ResourceArgs<S>[K]> }, opts?: pulumi.CustomResourceOptions) {
      // owner: whose records of the host's previous state the provider keeps (providers/ssh/before.ts).
      const owner = `${pulumi.getProject()}/${pulumi.getStack()}`;
      super(shimProvider(kind.name), name, { ...args, label: name, owner, ...empty }, opts, MODULE, typeName);
      // With `pulumi up --continue-on-error` a resource that failed, or was skipped after a failed
      // dependency, rejects every one of its outputs. The engine reports the failure; an output
      // that nothing awaits would also end the program as an unhandled rejection.
      for (const value of Object.values(this)) if (pulumi.Output.isInstance(value)) pulumi.recover(value, () => undefined);
    }
  };
}
