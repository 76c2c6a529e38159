import { isDeepStrictEqual } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { diffInputs } from "./diff";
import { goneForGoodHint, HardeningError, UnreachableNodeError } from "./errors";
import { Kind } from "./kind";
import { hostLog } from "./log";
import { validate } from "./validate";

// What every resource kind implements, and the parts they all share:
// validation in check and a pure diff, so that `pulumi preview` never opens
// an SSH connection.

/**
 * Keys that never count as a change by themselves: our bookkeeping (what the
 * host had before, facts observed on it, a written file's digest (and the time it was written,
 * kept in state by earlier versions, which nothing read), the lockout
 * guard's copy of the rules, the stack that keeps records on the host: state
 * written before it existed must not update on upgrade), and the serialized provider the SDK adds to
 * every dynamic resource (it changes with the program's path, not the host).
 */
export const bookkeepingKeys = ["previous", "observed", "digest", "written", "guard", "label", "owner", "__provider"] as const;

/**
 * read's answer for a resource found on the host: the live values as outputs,
 * and as inputs without the bookkeeping of what the host had before, so that
 * refresh shows drift against the program's inputs.
 */
export function observedOnHost(id: string, observed: Record<string, unknown>): pulumi.dynamic.ReadResult {
  const { previous: _previous, ...inputs } = observed;
  return { id, props: observed, inputs };
}

export interface Implementation<Name extends string = string> {
  readonly kind: Name;
  /** The engine's configure step: the stack's config, with its secrets decrypted. */
  configure(req: { config: ConfigSource }): Promise<void>;
  check(olds: any, news: any): Promise<pulumi.dynamic.CheckResult>;
  diff(id: string, olds: any, news: any): Promise<pulumi.dynamic.DiffResult>;
  create(inputs: any): Promise<pulumi.dynamic.CreateResult>;
  read(id: string, props: any): Promise<pulumi.dynamic.ReadResult>;
  update(id: string, olds: any, news: any): Promise<pulumi.dynamic.UpdateResult>;
  delete(id: string, props: any): Promise<void>;
}

/**
 * Whether the resource now points at another machine (replace): another host
 * name, or another address or port together with another pinned key. The same
 * key at a new address or port is the same node, re-addressed: an update.
 */
function movedToAnotherMachine(olds: { connection?: Record<string, unknown> }, news: { connection?: Record<string, unknown> }): boolean {
  const changed = (key: string) => olds.connection?.[key] !== news.connection?.[key];
  return changed("name") || ((changed("address") || changed("port")) && changed("hostKey"));
}

/**
 * True when the inputs are the same as the outputs say they were: an update then only repairs
 * what a refresh found changed on the node (e.g. a file edited by hand).
 */
export function sameInputs(olds: Record<string, unknown>, news: Record<string, unknown>): boolean {
  return !diffInputs(olds, news, [], bookkeepingKeys).changes;
}

/** True when nothing but how the node is reached (address, port, user, timeouts) changed: no command needs to run. */
function onlyReachChanged(olds: Record<string, unknown>, news: Record<string, unknown>): boolean {
  return !diffInputs(olds, news, [], [...bookkeepingKeys, "connection"]).changes;
}

/** The stack's config as a provider's configure step gets it. */
export interface ConfigSource {
  get(key: string): string | undefined;
}

/** What a kind's methods reach its hosts with (C: the SSH sessions, providers/ssh), made from the stack's config. */
export type Connect<C> = (config: ConfigSource) => C;

export interface Lifecycle<S extends z.ZodType, C> {
  /** Input keys whose change needs delete + create rather than an update in place. */
  replaceKeys: readonly string[];
  /** Sub-keys of an object input whose change replaces it, e.g. { rule: ["port"] }. */
  nestedReplaceKeys?: Record<string, readonly string[]>;
  /**
   * Drift a refresh found that the inputs cannot show (e.g. a file's content
   * edited by hand): compares the refreshed outputs with the new inputs, purely.
   */
  drifted?(olds: any, news: z.output<S>): boolean;
  /** The replacement can exist beside the old one (different identity on the host): create it first, so there is no gap. */
  createBeforeReplace?: boolean;
  /**
   * The object lives in the cluster's shared /etc/pve, reached through any of its nodes: another
   * node of the same cluster is an update there, never a delete through the old node (which may
   * be gone for good, and whose delete would put the cluster's old value back).
   */
  sharedByCluster?: boolean;
  /**
   * Why a create of this kind is harmless, said when one is planned (preview and up): a kind
   * new in a release shows as a create on every stack an earlier release deployed.
   */
  createNote?(inputs: z.output<S>): string;
  /**
   * When only how the node is reached changed and its pinned host key is another: checks that
   * the node is still the installation the state describes (a reinstalled node has a new key).
   * Without it, such an update runs no command.
   */
  onNewHostKey?(inputs: z.output<S>, hosts: C): Promise<void>;
  create(inputs: z.output<S>, hosts: C): Promise<pulumi.dynamic.CreateResult>;
  read(id: string, props: any, hosts: C): Promise<pulumi.dynamic.ReadResult>;
  update(id: string, olds: any, news: z.output<S>, hosts: C): Promise<pulumi.dynamic.UpdateResult>;
  delete(id: string, props: any, hosts: C): Promise<void>;
}

export function implementation<Name extends string, S extends z.ZodType, C>(kind: Kind<Name, S>, lifecycle: Lifecycle<S, C>, connect: Connect<C>): Implementation<Name> {
  const resourceType = kind.name;
  // Made by the engine's configure step from the stack's config, before any create, read, update or delete.
  let hosts: C | undefined;
  const connected = () => (hosts ??= connect({ get: () => undefined }));
  return {
    kind: kind.name,
    async configure(req) {
      hosts = connect(req.config);
    },
    async check(olds, news) {
      const context = { host: String(news?.connection?.name ?? "(unknown host)"), resource: `${resourceType} ${String(news?.label ?? "")}`.trim() };
      const { __provider: _provider, ...inputs } = news ?? {};
      const checked = validate(kind.inputs, inputs, context);
      // Without old inputs the engine is about to create the resource.
      if (checked.ok && lifecycle.createNote && olds?.connection === undefined) hostLog.info(context.host, lifecycle.createNote(checked.value));
      return checked.ok ? { inputs: checked.value as any } : { failures: checked.failures };
    },
    async diff(_id, olds, news) {
      const result = diffInputs(olds, news, lifecycle.replaceKeys, bookkeepingKeys);
      const nested = Object.entries(lifecycle.nestedReplaceKeys ?? {})
        .filter(([key, subKeys]) => subKeys.some((subKey) => !isDeepStrictEqual(olds[key]?.[subKey], news[key]?.[subKey])))
        .map(([key]) => key);
      const movedHost = !lifecycle.sharedByCluster && movedToAnotherMachine(olds, news);
      const replaces = [...result.replaces, ...nested, ...(movedHost ? ["connection"] : [])];
      const changes = result.changes || (lifecycle.drifted?.(olds, news) ?? false);
      return { ...result, changes, replaces, deleteBeforeReplace: replaces.length > 0 && (movedHost || !lifecycle.createBeforeReplace) };
    },
    create: (inputs) => lifecycle.create(inputs, connected()),
    read: (id, props) => lifecycle.read(id, props, connected()),
    async update(id, olds, news) {
      // A re-addressed node (or a new user or timeout) has nothing to change on it: the
      // outputs take the new way to reach it, and the next connection checks its pinned key.
      if (onlyReachChanged(olds, news) && !(lifecycle.drifted?.(olds, news) ?? false)) {
        if (olds.connection?.hostKey !== news.connection?.hostKey) await lifecycle.onNewHostKey?.(news, connected());
        return { outs: { ...olds, connection: news.connection, label: news.label } };
      }
      return lifecycle.update(id, olds, news, connected());
    },
    async delete(id, props) {
      try {
        await lifecycle.delete(id, props, connected());
      } catch (error) {
        // Every later up and destroy would fail the same way on a node that never answers again.
        if (error instanceof UnreachableNodeError) throw new HardeningError(error.context, error.problem, `${error.hint}; ${goneForGoodHint(error.context.host)}`, error.remote);
        throw error;
      }
    },
  };
}
