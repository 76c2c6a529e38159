import { z } from "zod";
import { configFiles, Labelled } from "../configfile/host";
import { digestOf } from "../configfile/logic";
import { expectSuccess, failureContext, HardeningError } from "../core/errors";
import { hostLog } from "../core/log";
import { observedOnHost, sameInputs } from "../core/implementation";
import { hostImplementation } from "../ssh/implementation";
import { forgetBefore, rememberBeforeThen } from "../ssh/before";
import { FileSnapshot, fileSnapshotSchema, readFactsAndFiles, restoreIfChangedScript, restoreInput } from "../ssh/files";
import { underHostLock } from "../ssh/lock";
import { shellQuote } from "../ssh/quote";
import { HostSession, RemoteResult } from "../ssh/transport";
import { chooseBackend, DEFAULTS_PATH, FAIL2BAN_CONFIG_DIR, FILTER_REPLACE_KEYS, filterLocalPath, filterPath, filterTarget, isManagedFile, JAIL_REPLACE_KEYS, jailPath, owningPackageScript, renderDefaults, renderFilter, renderJail, sampleCheckArgs, sampleCheckProblems, samplesFileContent } from "./logic";
import { parseRegexError, parseRegexMatches, parseServerStatus } from "./parse";
import { backendFactsScript, parseBackendFacts, reloadExitMeaning, reloadIfRunningScript, reloadScript, runningScript, stopScript, WAS_RUNNING } from "./service";
import { fail2banDefaultsKind, fail2banFilterKind, fail2banJailKind, fail2banReloadKind } from "./kinds";

// fail2ban as one resource per file (filter, jail, [DEFAULT]) plus one reload
// per host. Each file is written atomically and tested with
// `fail2ban-client -t` under the host lock; a failing test puts the previous
// file back, so fail2ban never reloads a broken configuration and keeps
// running (and banning) on the one it has.

/** A meaning for reloadScript's exit codes, for the user. */
function reloadFailure(kind: string, inputs: Labelled, script: string, result: RemoteResult, field?: string): HardeningError {
  return new HardeningError(
    failureContext(kind, inputs, field),
    reloadExitMeaning[result.code] ?? "fail2ban could not be reloaded",
    "read fail2ban's answer above; `fail2ban-client -t` on the host shows the configuration error, `fail2ban-client status` what runs",
    { command: script, exitCode: result.code, stderr: result.stderr || result.stdout },
  );
}

/**
 * fail2ban's files: each tested with `fail2ban-client -t` as it is written. On
 * destroy the host's reload resource has put every file back already (with
 * one reload for all), so a file's own restore finds it as before and does
 * nothing; it restores and reloads when only that resource goes (a jail
 * removed from the config).
 */
const files = configFiles({
  recordKind: "fail2ban-file",
  test: { argv: ["fail2ban-client", "-t"], keeps: "fail2ban was not reloaded and keeps running on its previous configuration", retestPrevious: { lastWord: "the reload tests it again once every file is written" } },
  ours: isManagedFile,
  afterRestore: { script: reloadIfRunningScript, what: "reload fail2ban", command: "fail2ban-client reload", failure: reloadFailure },
});

/**
 * After a file was put back as the program wrote it because it was edited on the host: the
 * settings did not change, so the reload resource does not run, and fail2ban would go on with
 * what it loaded from the edited file. Reloads it here, if it runs (tested first, as always).
 */
async function reloadRepaired(session: HostSession, kind: string, inputs: Labelled, olds: Record<string, unknown>, news: Record<string, unknown>) {
  if (!sameInputs(olds, news)) return;
  const result = await session.run(underHostLock(reloadIfRunningScript), { description: "fail2ban-client -t; reload (a file repaired)" });
  if (result.code !== 0) throw reloadFailure(kind, inputs, "fail2ban-client -t && fail2ban-client reload", result);
}

// ---------------------------------------------------------------- filter

const FILTER = fail2banFilterKind.name;

/**
 * Runs fail2ban-regex on the host with the candidate filter and the samples, in a private temp
 * dir. A .local is checked as fail2ban reads it: over a copy of filter.d (the package's .conf and
 * what it includes).
 */
async function checkSamples(session: HostSession, inputs: z.output<typeof fail2banFilterKind.inputs>, content: string, path: string) {
  // The candidate filter travels base64-encoded in the script (it is small and
  // not secret), the samples on stdin; both land in a private temp dir.
  const local = path.endsWith(".local");
  const filterFile = local ? `"$dir/filter.d/"${shellQuote(`${inputs.filter.name}.conf`)}` : '"$dir/filter.conf"';
  const placeholders: Record<string, string> = { SAMPLES: '"$dir/samples.log"', FILTER: filterFile };
  const script = [
    "set -e",
    "dir=$(mktemp -d)",
    `trap 'rm -rf "$dir"' EXIT`,
    ...(local ? ['mkdir "$dir/filter.d"', `cp ${shellQuote(`${FAIL2BAN_CONFIG_DIR}/filter.d`)}/*.conf "$dir/filter.d/"`] : []),
    `printf '%s' ${shellQuote(Buffer.from(content).toString("base64"))} | base64 -d > ${local ? `"$dir/filter.d/"${shellQuote(`${inputs.filter.name}.local`)}` : filterFile}`,
    `cat > "$dir/samples.log"`,
    // fail2ban-regex imports the journal backend, whose version check imports distutils; where
    // python3-setuptools is installed (pip pulls it in), setuptools' distutils shim loads all of
    // setuptools first: 0.2 of fail2ban-regex's 0.3 CPU s. Python's own distutils gives the same
    // answer (Python 3.12 and later have none, and fail2ban 1.1 no longer imports it).
    `SETUPTOOLS_USE_DISTUTILS=stdlib fail2ban-regex ${sampleCheckArgs("SAMPLES", "FILTER").map((arg) => placeholders[arg] ?? shellQuote(arg)).join(" ")}`,
  ].join("\n");
  const result = await session.run(script, { stdin: samplesFileContent(inputs.filter.samples), description: "fail2ban-regex samples filter" });
  const problems =
    result.code === 0
      ? sampleCheckProblems(parseRegexMatches(result.stdout), inputs.filter.samples)
      : [`fail2ban-regex failed (exit ${result.code}): ${parseRegexError(result.stdout, result.stderr) ?? result.stderr.trim()}`];
  if (problems.length > 0) {
    throw new HardeningError(
      failureContext(FILTER, inputs, "filter.samples"),
      `the filter's samples do not behave on the host, so the filter was not installed:\n    ${problems.join("\n    ")}`,
      "fix failregex/ignoreregex or the samples; fail2ban-regex on the host with the same lines shows what matches",
    );
  }
}

/** The file a filter resource wrote: the .local when a package shipped the .conf (observed at create), else the .conf. */
const writtenFilterPath = (props: { filter: { name: string }; observed?: { path?: string } }) => props.observed?.path ?? filterPath(props.filter.name);

export const fail2banFilter = hostImplementation(fail2banFilterKind, {
  replaceKeys: [],
  nestedReplaceKeys: { filter: FILTER_REPLACE_KEYS },
  drifted: (olds, news) => olds.digest !== digestOf(renderFilter(news.filter)),
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    // Decided here, after the packages step: a fail2ban it installed may ship the .conf. Both candidates are read with it.
    const conf = filterPath(inputs.filter.name);
    const read = await readFactsAndFiles(session, owningPackageScript(conf), [conf, filterLocalPath(inputs.filter.name)], `dpkg-query -S ${conf}`);
    const target = filterTarget(inputs.filter.name, read.facts);
    const content = renderFilter(inputs.filter);
    await checkSamples(session, inputs, content, target.path);
    const before = read.files.find((file) => file.path === target.path);
    const previous = await files.write(session, { kind: FILTER, inputs, field: "filter", path: target.path, content, creating: true, before });
    if (target.package) hostLog.info(inputs.connection.name, `${filterPath(inputs.filter.name)} belongs to the package ${target.package} and stays as it is; the filter went to ${target.path}, which overrides it`);
    // `observed` only when the .local was chosen: state of a .conf filter looks as before.
    const observed = target.package ? { observed: { path: target.path, package: target.package } } : {};
    return { id: `${inputs.connection.name}/${target.path}`, outs: { ...inputs, previous, digest: digestOf(content), ...observed } };
  },
  read: async (id, props, hosts) => files.read(await hosts.sessionFor(props.connection), id, props, writtenFilterPath(props)),
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const content = renderFilter(news.filter);
    const path = writtenFilterPath({ ...news, observed: olds.observed });
    await checkSamples(session, news, content, path);
    await files.write(session, { kind: FILTER, inputs: news, field: "filter", path, content, creating: false });
    await reloadRepaired(session, FILTER, news, olds, news);
    return { outs: { ...news, previous: olds.previous, digest: digestOf(content), ...(olds.observed ? { observed: olds.observed } : {}) } };
  },
  delete: async (_id, props, hosts) => files.restore(await hosts.sessionFor(props.connection), FILTER, props, props.previous),
});

// ---------------------------------------------------------------- jail

const JAIL = fail2banJailKind.name;

/** The jail's file for this host (its backend chosen from the host's log files and journal), and the file the host has now. */
async function renderJailFor(session: HostSession, inputs: z.output<typeof fail2banJailKind.inputs>): Promise<{ content: string; backend: string; before: FileSnapshot }> {
  const { jail } = inputs;
  const read = await readFactsAndFiles(session, backendFactsScript(jail.logpath ?? []), [jailPath(jail.name)], "check log files and journal");
  const choice = chooseBackend({ requested: jail.backend, ...parseBackendFacts(read.facts) });
  if (!choice.ok) throw new HardeningError(failureContext(JAIL, inputs, "jail.backend"), `jail ${jail.name}: ${choice.problem}`, choice.hint);
  return { content: renderJail(jail, choice.backend), backend: choice.backend, before: read.files[0] };
}

export const fail2banJail = hostImplementation(fail2banJailKind, {
  replaceKeys: [],
  nestedReplaceKeys: { jail: JAIL_REPLACE_KEYS },
  // The backend chosen on the host at create is part of the file; a file edited by hand shows as a different digest.
  drifted: (olds, news) => olds.observed?.backend !== undefined && olds.digest !== digestOf(renderJail(news.jail, olds.observed.backend)),
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const { content, backend, before } = await renderJailFor(session, inputs);
    const previous = await files.write(session, { kind: JAIL, inputs, field: "jail", path: jailPath(inputs.jail.name), content, creating: true, before });
    return { id: `${inputs.connection.name}/${jailPath(inputs.jail.name)}`, outs: { ...inputs, previous, digest: digestOf(content), observed: { backend } } };
  },
  read: async (id, props, hosts) => files.read(await hosts.sessionFor(props.connection), id, props, jailPath(props.jail.name)),
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const { content, backend, before } = await renderJailFor(session, news);
    await files.write(session, { kind: JAIL, inputs: news, field: "jail", path: jailPath(news.jail.name), content, creating: false, before });
    await reloadRepaired(session, JAIL, news, olds, news);
    return { outs: { ...news, previous: olds.previous, digest: digestOf(content), observed: { backend } } };
  },
  delete: async (_id, props, hosts) => files.restore(await hosts.sessionFor(props.connection), JAIL, props, props.previous),
});

// ---------------------------------------------------------------- [DEFAULT]

const DEFAULTS = fail2banDefaultsKind.name;

export const fail2banDefaults = hostImplementation(fail2banDefaultsKind, {
  replaceKeys: [],
  drifted: (olds, news) => olds.digest !== digestOf(renderDefaults(news.defaults, news.defaults.backend)),
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const content = renderDefaults(inputs.defaults, inputs.defaults.backend);
    const previous = await files.write(session, { kind: DEFAULTS, inputs, field: "defaults", path: DEFAULTS_PATH, content, creating: true });
    return { id: `${inputs.connection.name}/${DEFAULTS_PATH}`, outs: { ...inputs, previous, digest: digestOf(content) } };
  },
  read: async (id, props, hosts) => files.read(await hosts.sessionFor(props.connection), id, props, DEFAULTS_PATH),
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const content = renderDefaults(news.defaults, news.defaults.backend);
    await files.write(session, { kind: DEFAULTS, inputs: news, field: "defaults", path: DEFAULTS_PATH, content, creating: false });
    await reloadRepaired(session, DEFAULTS, news, olds, news);
    return { outs: { ...news, previous: olds.previous, digest: digestOf(content) } };
  },
  delete: async (_id, props, hosts) => files.restore(await hosts.sessionFor(props.connection), DEFAULTS, props, props.previous),
});

// ---------------------------------------------------------------- reload

const RELOAD = fail2banReloadKind.name;
const SERVICE_KEY = "fail2ban-service";

/** The preflight's fail2ban-client -t errors from a reload's `observed`; none when absent or unreadable. */
function failedBeforeOf(observed: string | undefined): string[] {
  try {
    return z.strictObject({ failedBefore: z.array(z.string()) }).parse(JSON.parse(observed ?? "")).failedBefore;
  } catch {
    return [];
  }
}

type ReloadInputs = z.output<typeof fail2banReloadKind.inputs>;

/** Reloads (or starts) fail2ban and waits for its jails. */
const reloadChange = (inputs: ReloadInputs) => ({ script: reloadScript(inputs.jails), description: "fail2ban-client -t; reload (or start); status of each jail" });

/** Judges reloadChange's result and says what runs now. */
function reportReload(result: RemoteResult, inputs: ReloadInputs, first: boolean): void {
  if (result.code !== 0) throw reloadFailure(RELOAD, inputs, "fail2ban-client -t && fail2ban-client reload && fail2ban-client status <jail>...", result, "jails");
  const wasRunning = result.stdout.split("\n").includes(WAS_RUNNING);
  const jails = inputs.jails.join(", ") || "(none enabled)";
  // Only the first reload: the preflight's observation is of the host before the first run.
  const failedBefore = first ? failedBeforeOf(inputs.observed) : [];
  if (failedBefore.length > 0) {
    hostLog.info(
      inputs.connection.name,
      `fixed: fail2ban's configuration failed its own test before this run (${failedBefore.join("; ")}), so fail2ban could not run; with the files this program wrote it passes, and fail2ban ${wasRunning ? "was reloaded" : "was started"} with the jails ${jails}`,
    );
  } else hostLog.info(inputs.connection.name, `fail2ban reloaded; running jails: ${jails}`);
}

/**
 * The snapshots a reload resource puts back on destroy. None when the state
 * predates them or they do not parse: each file's own delete restores it then.
 */
function filesToRestore(props: { restoreOnDestroy?: string }): FileSnapshot[] {
  try {
    return fileSnapshotSchema.array().parse(JSON.parse(props.restoreOnDestroy ?? "[]"));
  } catch {
    return [];
  }
}

export const fail2banReload = hostImplementation(fail2banReloadKind, {
  replaceKeys: [],
  async create(inputs, hosts) {
    const session = await hosts.sessionFor(inputs.connection);
    const running = await session.run(runningScript, { description: "is fail2ban running?" });
    const seen = { wasRunning: running.stdout.split("\n").includes(WAS_RUNNING) };
    // Recorded before the first reload: a cut create may already have started fail2ban.
    const entry = { key: SERVICE_KEY, what: "fail2ban running or stopped", before: seen };
    const { previous: [previous], change } = await rememberBeforeThen(session, `${RELOAD} ${inputs.label}`, inputs, [entry], reloadChange(inputs));
    reportReload(change, inputs, true);
    return { id: `${inputs.connection.name}/fail2ban/reload`, outs: { ...inputs, previous } };
  },
  async read(id, props, hosts) {
    const session = await hosts.sessionFor(props.connection);
    const result = await session.run("fail2ban-client status", { description: "fail2ban-client status" });
    // A fail2ban that does not run has no jails running.
    const running = result.code === 0 ? parseServerStatus(result.stdout).jails : [];
    return observedOnHost(id, { ...props, jails: props.jails.filter((jail: string) => running.includes(jail)) });
  },
  async update(_id, olds, news, hosts) {
    const session = await hosts.sessionFor(news.connection);
    const { script, description } = reloadChange(news);
    reportReload(await session.run(underHostLock(script), { description }), news, false);
    return { outs: { ...news, previous: olds.previous } };
  },
  async delete(_id, props, hosts) {
    // Deleted first on destroy (it depends on every fail2ban file): puts all
    // the files back, then one reload (or a stop, if fail2ban was not running
    // before) instead of one reload per file. The files' own deletes then
    // find them as before.
    const session = await hosts.sessionFor(props.connection);
    for (const snapshot of filesToRestore(props)) {
      const result = await session.run(underHostLock(restoreIfChangedScript(snapshot)), { stdin: restoreInput(snapshot), description: `restore ${snapshot.path} (unless it is as before)` });
      expectSuccess(result, failureContext(RELOAD, props, "restoreOnDestroy"), `restore ${snapshot.path}`, "put the file back by hand from `pulumi stack export` (the resource's previous), then run destroy again");
    }
    if (props.previous?.wasRunning === false) {
      expectSuccess(await session.run(underHostLock(stopScript), { description: stopScript }), failureContext(RELOAD, props), stopScript, "stop fail2ban by hand if it should not run");
    } else {
      const result = await session.run(underHostLock(reloadIfRunningScript), { description: "fail2ban-client -t; reload" });
      if (result.code !== 0) throw reloadFailure(RELOAD, props, "fail2ban-client -t && fail2ban-client reload", result);
    }
    await forgetBefore(session, `${RELOAD} ${props.label}`, props, [SERVICE_KEY]);
  },
});
