import { isDeepStrictEqual } from "node:util";

/** The answer Pulumi's diff wants, computed without touching a host. */
export interface InputDiff {
  changes: boolean;
  replaces: string[];
  stables: string[];
  deleteBeforeReplace: boolean;
}

/**
 * Compares old and new validated inputs key by key. Keys listed in
 * `replaceKeys` force a replacement; every other changed key updates in place.
 * Keys in `ignoreKeys` (bookkeeping such as the pre-change snapshot) never count.
 */
export function diffInputs(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  replaceKeys: readonly string[],
  ignoreKeys: readonly string[] = [],
): InputDiff {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  const changed: string[] = [];
  const stables: string[] = [];
  for (const key of keys) {
    if (ignoreKeys.includes(key)) continue;
    if (isDeepStrictEqual(olds[key], news[key])) stables.push(key);
    else changed.push(key);
  }
  const replaces = changed.filter((key) => replaceKeys.includes(key));
  return { changes: changed.length > 0, replaces, stables, deleteBeforeReplace: replaces.length > 0 };
}
