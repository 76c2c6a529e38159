/**
 * The benchmark (issue 6): this project against the floor (bench/floor.sh)
 * and Ansible, on 1, 5 and 20 fresh sandbox hosts, in one run.
 *
 *   npm run bench                                  # 1,5,20 hosts x 3 runs, all tools
 *   npm run bench -- --hosts 1,5 --runs 1          # quick check
 *   npm run bench -- --estimate                    # how long the run would take
 *   npm run bench -- --profile --hosts 1,20        # timed runs, then a profile pass (per-step and per-command timings)
 *   npm run bench -- --profile --runs 0 --hosts 5  # only the profile pass
 *   npm run bench -- --doc                         # also write the tables into docs/BENCHMARKS.md
 *   npm run bench -- --from bench/results/a.json,bench/results/b.json --doc   # tables from saved runs
 *
 * Other options: --tools project,floor,ansible[,project:parallel64,project:skip-checkpoints]
 * (variants are experiments: --parallel 64 for every operation; PULUMI_SKIP_CHECKPOINTS=true);
 * a project tool with @<commit> (e.g. project@ea321c1) measures a snapshot of that commit in the
 * same runs, alternating with the others: today's main against the work in one invocation;
 * --ref <commit> measures a snapshot of that commit instead of the work tree; --patch <file>
 * (repeatable, with --ref) applies a proposed change (a diff) to that snapshot first.
 * Needs root (the sandbox). Uses its own sandbox (PHS_PREFIX=pbn-, .sandbox-bench/) unless set.
 */
import "./env";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { renderDefaults, renderFilter, renderJail } from "../providers/fail2ban/logic";
import { proxmoxFilterDefaults, referenceDefaults, referenceProxmoxJail, referenceSshdJail } from "../providers/fail2ban/schema";
import type { Inventory } from "../sandbox";
import { pulumiCommand } from "../scripts/engine";
import { AnsibleRunner, ansibleVersions, ensureAnsible } from "./ansible";
import { FLOOR_SCRIPT, opensshArgs, runFloor } from "./floor";
import { endState, freshHosts, HostCommand, installProfileHook, sandboxDown, takeProfileLog, useSandboxOf, writeKnownHosts } from "./hosts";
import { channelLatencyMs, FixedCost, fixedCostOf, microMeasures, phasesOf, ProcessStamp, readStamps, remoteProfile, stepDurations } from "./profile";
import { loadProgramSupport, OP_LABEL, PROJECT_OPS, ProgramSupport, ProjectOp, runProject } from "./project";
import { cpuTable, experimentsTable, Machine, Measurement, replaceSection, resultsTable, slopeTable, targets, machineTable, Tool } from "./report";
import { projectTree, repoRoot, Tree, warmBundles } from "./tree";
import { log, mustRun, runProcess, step } from "./util";

const VARIANTS: Record<string, { parallel?: number; env?: Record<string, string>; what: string }> = {
  project: { what: "as a user runs it (engine defaults)" },
  "project:parallel64": { parallel: 64, what: "--parallel 64 (engine default: 4 x cores = 8 here)" },
  // To measure what the engine's state checkpoints cost, not a setting to run with: without
  // them a crash mid-deployment loses the record of what changed on the hosts.
  "project:skip-checkpoints": { env: { PULUMI_SKIP_CHECKPOINTS: "true" }, what: "PULUMI_SKIP_CHECKPOINTS=true (measurement only)" },
};

interface Args {
  hosts: number[];
  runs: number;
  tools: Tool[];
  profile: boolean;
  doc: boolean;
  estimate: boolean;
  ref?: string;
  patches: string[];
  from?: string[];
}

function parseCommandLine(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: "string" },
      runs: { type: "string" },
      tools: { type: "string" },
      profile: { type: "boolean", default: false },
      doc: { type: "boolean", default: false },
      estimate: { type: "boolean", default: false },
      ref: { type: "string" },
      patch: { type: "string", multiple: true, default: [] },
      from: { type: "string" },
    },
  });
  const args: Args = {
    hosts: (values.hosts ?? "1,5,20").split(",").map(Number),
    runs: Number(values.runs ?? 3),
    tools: (values.tools ?? "project,floor,ansible").split(",") as Tool[],
    profile: values.profile,
    doc: values.doc,
    estimate: values.estimate,
    ref: values.ref,
    patches: values.patch,
    from: values.from?.split(","),
  };
  if (!args.hosts.every((n) => Number.isInteger(n) && n >= 1 && n <= 40)) throw new Error("--hosts: 1..40 each");
  if (!Number.isInteger(args.runs) || args.runs < (args.profile ? 0 : 1) || args.runs > 10) throw new Error("--runs: 1..10 (0 with --profile: only the profile pass)");
  for (const tool of args.tools) {
    const { variant, ref } = parseTool(tool);
    if (tool !== "floor" && tool !== "ansible" && !(variant in VARIANTS)) throw new Error(`unknown tool ${tool}`);
    if (ref === "") throw new Error(`${tool}: a commit after @`);
  }
  return args;
}

/** `project:parallel64@ea321c1` -> the variant and the commit whose snapshot it runs (none: the measured tree). */
function parseTool(tool: Tool): { variant: string; ref?: string } {
  const at = tool.indexOf("@");
  return at < 0 ? { variant: tool } : { variant: tool.slice(0, at), ref: tool.slice(at + 1) };
}

// ------------------------------------------------------------------ estimate

/**
 * Seconds one tool takes on N fresh hosts, sandbox start included. From the
 * medians measured on this machine (docs/BENCHMARKS.md); crude, for planning.
 */
function estimateSeconds(tool: Tool, n: number): number {
  const sandbox = 2 + 0.6 * n;
  if (tool === "floor") return sandbox + 2.2 + 0.7 * n;
  if (tool === "ansible") return sandbox + 2 * (6 + 3.8 * n);
  // project: stack setup and removal, then six operations (measured at low load at d30ad5f: 49 s for 1 host, 140 s for 20).
  return sandbox + 42 + 4.5 * n;
}

function estimate(args: Args): number {
  let total = 0;
  for (const n of args.hosts) for (const tool of args.tools) total += estimateSeconds(tool, n) * args.runs;
  const profiled = Math.max(1, args.tools.filter((tool) => parseTool(tool).variant === "project").length);
  if (args.profile) for (const n of args.hosts) total += (estimateSeconds("project", n) + 20) * profiled;
  return total;
}

// ------------------------------------------------------------------ checks and machine

/** The floor and the playbook must write exactly what the program writes. */
function checkFilesMatchProgram(): void {
  const expected: Record<string, string> = {
    "/etc/fail2ban/filter.d/proxmox.conf": renderFilter(proxmoxFilterDefaults),
    "/etc/fail2ban/jail.d/proxmox-hardening-defaults.local": renderDefaults(referenceDefaults, referenceDefaults.backend),
    "/etc/fail2ban/jail.d/proxmox-hardening-jail-sshd.local": renderJail(referenceSshdJail, "auto"),
    "/etc/fail2ban/jail.d/proxmox-hardening-jail-proxmox.local": renderJail(referenceProxmoxJail, "auto"),
  };
  const ansibleFiles: Record<string, string> = {
    "/etc/fail2ban/filter.d/proxmox.conf": "proxmox.conf",
    "/etc/fail2ban/jail.d/proxmox-hardening-defaults.local": "defaults.local",
    "/etc/fail2ban/jail.d/proxmox-hardening-jail-sshd.local": "jail-sshd.local",
    "/etc/fail2ban/jail.d/proxmox-hardening-jail-proxmox.local": "jail-proxmox.local",
  };
  const floor = readFileSync(FLOOR_SCRIPT, "utf8");
  for (const [path, content] of Object.entries(expected)) {
    const heredoc = new RegExp(`^cat > ${path.replace(/[.]/g, "\\.")} <<'EOF'\\n([\\s\\S]*?)^EOF$`, "m").exec(floor)?.[1];
    if (heredoc !== content) throw new Error(`bench/floor.sh writes ${path} differently from the program; update it to:\n${content}`);
    const file = readFileSync(join(__dirname, "ansible", "files", ansibleFiles[path]), "utf8");
    if (file !== content) throw new Error(`bench/ansible/files/${ansibleFiles[path]} differs from what the program writes to ${path}`);
  }
}

async function dpkgVersion(name: string): Promise<string> {
  const result = await runProcess("dpkg-query", ["-W", "-f=${Version}", name]);
  return result.code === 0 ? result.stdout.trim() : "not installed";
}

async function describeMachine(tree: Tree, pulumiBin: string): Promise<Machine> {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
  const ansible = await ansibleVersions();
  const pkg = (name: string) => JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8")).version as string;
  return {
    nproc: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    cpu,
    kernel: release(),
    versions: {
      node: process.version,
      pulumi: (await mustRun(pulumiBin, ["version"])).stdout.trim(),
      "@pulumi/pulumi": pkg("@pulumi/pulumi"),
      "ts-node": pkg("ts-node"),
      tsx: pkg("tsx"),
      ssh2: pkg("ssh2"),
      ansible: ansible?.ansible ?? "not installed",
      "ansible-core": ansible?.core ?? "not installed",
      ufw: await dpkgVersion("ufw"),
      fail2ban: await dpkgVersion("fail2ban"),
      openssh: await dpkgVersion("openssh-server"),
    },
    loadBefore: loadavg().map((l) => l.toFixed(2)).join(" "),
    tree: tree.description,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

// ------------------------------------------------------------------ one tool on fresh hosts

interface Context {
  /** The engine helpers of each tree measured: "" for the main one (the work tree or --ref), else a tool's @commit. */
  supports: Map<string, ProgramSupport>;
  /** Names of the patches applied to the snapshot (file names without .diff). */
  patchLabel?: string;
  failures: Saved["failures"];
  measurements: Measurement[];
  save: () => void;
  workDir: string;
}

async function hostsFor(n: number, label: string, workDir: string): Promise<{ inventory: Inventory; knownHosts: string }> {
  const { value: inventory } = await step(`${label}: ${n} fresh sandbox host(s)`, () => freshHosts(n));
  const knownHosts = join(workDir, "known_hosts");
  writeKnownHosts(inventory, knownHosts);
  return { inventory, knownHosts };
}

/** A patched snapshot is an experiment: its rows must not mix with the project's. */
function recordedName(ctx: Context, tool: Tool): Tool {
  if (!ctx.patchLabel || !tool.startsWith("project") || parseTool(tool).ref !== undefined) return tool;
  return tool === "project" ? `project:${ctx.patchLabel}` : (`${tool}+${ctx.patchLabel}` as Tool);
}

async function measureTool(ctx: Context, tool: Tool, n: number, run: number, reference: { state?: string }): Promise<void> {
  const label = `run ${run}, ${n} host(s), ${tool}`;
  const { inventory, knownHosts } = await hostsFor(n, label, ctx.workDir);
  const recorded = recordedName(ctx, tool);
  const record = (m: Omit<Measurement, "tool" | "hosts" | "run">) => {
    ctx.measurements.push({ tool: recorded, hosts: n, run, ...m });
    ctx.save();
  };
  let state: string | undefined;
  if (tool === "floor") {
    const { value } = await step(`${label}: floor.sh over one SSH session per host`, () => runFloor(inventory, knownHosts));
    record({ op: "apply", wallMs: value.wallMs, connections: value.connections, commands: value.commands, sshdLogins: value.sshdLogins, cpu: value.cpu });
    state = await endState(inventory.hosts[0]);
  } else if (tool === "ansible") {
    const runner = new AnsibleRunner(inventory, knownHosts);
    try {
      for (const op of ["apply", "noop"] as const) {
        const { value } = await step(`${label}: ansible-playbook ${op === "apply" ? "first run" : "no-op re-run"} (forks ${n})`, () => runner.run(op));
        log(`  ${value.connections} connections, ${value.commands} commands (${value.transfers} sftp), ${value.changed} changed`);
        if (op === "noop" && value.changed > 0) throw new Error(`Ansible's re-run changed ${value.changed} tasks:\n${value.recap}`);
        record({ op, wallMs: value.wallMs, connections: value.connections, commands: value.commands, sshdLogins: value.connections, transfers: value.transfers, changed: value.changed, cpu: value.cpu });
        if (op === "apply") state = await endState(inventory.hosts[0]);
      }
    } finally {
      runner.dispose();
    }
  } else {
    const { variant: name, ref } = parseTool(tool);
    const variant = VARIANTS[name];
    await runProject(inventory, {
      support: ctx.supports.get(ref ?? "")!,
      // Unique per tool: a stack left behind by a failed variant must not be picked up by the next.
      name: `test-bench-${n}h-r${run}-${tool.replace(/[^a-z0-9]+/gi, "-")}-${process.pid}`,
      env: variant.env,
      parallel: variant.parallel,
      onResult: (r) => record({ op: r.op, wallMs: r.wallMs, apiMs: r.apiMs, connections: r.connections, commands: r.commands, sshdLogins: r.sshdLogins, note: r.changes, cpu: r.cpu }),
      afterOp: async (op) => {
        if (op === "apply") state = await endState(inventory.hosts[0]);
      },
    });
  }
  if (state !== undefined) {
    if (reference.state === undefined) reference.state = state;
    else if (state !== reference.state) {
      log(`WARNING: ${tool} left pve1 in another state than the first tool of this run:\n${state}\n--- expected ---\n${reference.state}`);
      ctx.measurements[ctx.measurements.length - 1].note = "end state differs";
    }
  }
}

// ------------------------------------------------------------------ profile pass

interface ProfileRecord {
  hosts: number;
  /** The project tool profiled (the main tree's "project", or "project@<commit>"); absent in older runs. */
  tool?: Tool;
  /** The fixed cost per operation (bench/stamp.js); absent in older runs. */
  fixed?: Partial<Record<ProjectOp, FixedCost>>;
  phases: Record<string, ReturnType<typeof phasesOf>>;
  steps: ReturnType<typeof stepDurations>;
  remote: Partial<Record<ProjectOp, ReturnType<typeof remoteProfile>>>;
  channelLatencyMs?: number;
  automationApiAfterUpMs?: number;
}

async function profilePass(ctx: Context, n: number, tool: Tool): Promise<ProfileRecord> {
  const label = `profile, ${n} host(s), ${tool}`;
  const { inventory } = await hostsFor(n, label, ctx.workDir);
  await Promise.all(inventory.hosts.map(installProfileHook));
  const commands: Partial<Record<ProjectOp, HostCommand[]>> = {};
  const stamps: Partial<Record<ProjectOp, ProcessStamp[]>> = {};
  const stampFile = join(ctx.workDir, "stamps.jsonl");
  rmSync(stampFile, { force: true });
  const record: ProfileRecord = { hosts: n, tool, phases: {}, steps: [], remote: {}, fixed: {} };
  const results = await runProject(inventory, {
    support: ctx.supports.get(parseTool(tool).ref ?? "")!,
    name: `test-bench-profile-${n}h-${tool.replace(/[^a-z0-9]+/gi, "-")}-${process.pid}`,
    // Every Node process the CLI starts stamps when it starts and reaches the points of the fixed cost.
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${join(__dirname, "stamp.js")}`.trim(), PBN_STAMP_FILE: stampFile },
    afterOp: async (op, program) => {
      stamps[op] = readStamps(stampFile);
      rmSync(stampFile, { force: true });
      commands[op] = (await Promise.all(inventory.hosts.map(takeProfileLog))).flat();
      if (op === "noop") {
        // What up() adds after the CLI exits: `stack output` and `stack history`.
        const t0 = performance.now();
        await program.stack.outputs();
        await program.stack.info();
        record.automationApiAfterUpMs = performance.now() - t0;
      }
    },
  });
  for (const result of results) {
    record.phases[result.op] = phasesOf(result);
    record.fixed![result.op] = fixedCostOf(result.startedAt, stamps[result.op] ?? [], record.phases[result.op]!);
    const list = commands[result.op] ?? [];
    if (list.length) record.remote[result.op] = remoteProfile(list);
    if (result.op === "apply") {
      record.steps = stepDurations(result);
      record.channelLatencyMs = channelLatencyMs(result, list);
    }
  }
  return record;
}

/** A category parsed from an intact hook line (early profile passes could interleave lines). */
const readable = (c: { category: string; totalMs: number }) => Number.isFinite(c.totalMs) && /^[\x20-\x7e]*$/.test(c.category) && !/\?{2,}/.test(c.category);

function profileMarkdown(profiles: ProfileRecord[], micro: Awaited<ReturnType<typeof microMeasures>> | undefined): string {
  const s = (ms: number | undefined) => (ms === undefined ? "–" : (ms / 1000).toFixed(2));
  const out: string[] = [];
  if (micro) {
    out.push(
      "Fixed costs (median of 5):",
      "",
      `- \`node -e 0\`: ${s(micro.nodeStartMs)} s; \`node --import tsx\` loading providers/registry.ts standalone, with the @pulumi/pulumi it imports: ${s(micro.tsxProvidersLoadMs)} s`,
      ...(micro.providersAfterSdkMs === undefined ? [] : [`- in the provider process, after the SDK it always loads: tsx and \`providers/registry\` as the stored shim requires it: ${s(micro.providersAfterSdkMs)} s`]),
      `- \`pulumi version\` (CLI start): ${s(micro.pulumiVersionMs)} s`,
      `- one OpenSSH session to a host (\`ssh host true\`: connect, key exchange, auth, one command): ${s(micro.opensshSessionMs)} s`,
      "",
    );
  }
  for (const p of profiles) {
    out.push(`#### ${p.hosts} host(s)${p.tool && p.tool !== "project" ? `, ${p.tool}` : ""}`, "");
    if (p.fixed && Object.keys(p.fixed).length) {
      out.push(
        "Fixed cost of each operation (seconds from the call; the processes' own stamps, bench/stamp.js): the CLI and the engine start the program's Node process; it loads Node, the SDK, TypeScript and ts-node until index.ts is required, then our modules, registering the resources; the engine then starts the provider plugin (a shell script, then Node and the SDK until it listens), which loads our providers at its first call; refresh and destroy run no program.",
        "",
        "| operation | program process started | index.ts required | index.ts loaded | provider plugin started | provider listening | our providers required | our providers loaded | first host resource step | CPU s: program to index.ts / index.ts / provider to listening / our providers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      );
      for (const op of PROJECT_OPS) {
        const f = p.fixed[op];
        if (f) out.push(`| ${OP_LABEL[op]} | ${s(f.programStartMs)} | ${s(f.programEntryMs)} | ${s(f.programLoadedMs)} | ${s(f.providerSpawnMs)} | ${s(f.providerListeningMs)} | ${s(f.providersLoadMs)} | ${s(f.providersLoadedMs)} | ${s(f.firstHostResourceMs)} | ${[f.programSdkCpuMs, f.programOwnCpuMs, f.providerSdkCpuMs, f.providersOwnCpuMs].map(s).join(" / ")} |`);
      }
      out.push("");
    }
    out.push("Timeline of each operation (seconds from the call; the engine's events and the providers' metrics):", "");
    out.push(
      "| operation | first engine event | first step | first host resource step | last host resource step started | first SSH connect | last SSH connect | last step done | engine summary | CLI exited | call returned |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const op of PROJECT_OPS) {
      const ph = p.phases[op];
      if (!ph) continue;
      out.push(`| ${OP_LABEL[op]} | ${s(ph.firstEventMs)} | ${s(ph.firstResourceMs)} | ${s(ph.firstHostResourceMs)} | ${s(ph.lastHostResourceStartMs)} | ${s(ph.firstConnectMs)} | ${s(ph.lastConnectMs)} | ${s(ph.lastResourceMs)} | ${s(ph.summaryMs)} | ${s(ph.wallMs)} | ${s(ph.apiMs)} |`);
    }
    out.push("");
    if (p.automationApiAfterUpMs !== undefined) out.push(`After the CLI exits, the Automation API's up() runs \`stack output\` and \`stack history\`: ${s(p.automationApiAfterUpMs)} s (in every up above; the times measured end when the CLI exits).`, "");
    if (p.steps.length) {
      out.push("First apply, per resource kind: engine step time (resourcePre to resOutputs; includes waiting for the SSH channel pool and the host lock):", "", "| resource | count | median s | max s |", "|---|---:|---:|---:|");
      // Older passes also timed the stack and the per-host components; only hardening resources belong here.
      for (const st of p.steps.filter((step) => !/^pve\d+$/.test(step.kind) && !step.kind.startsWith("proxmox-hardening-") && step.kind !== "default")) out.push(`| ${st.kind} | ${st.count} | ${s(st.medianMs)} | ${s(st.maxMs)} |`);
      out.push("");
    }
    for (const op of ["apply", "noop", "refresh", "destroy"] as ProjectOp[]) {
      const r = p.remote[op];
      if (!r) continue;
      out.push(
        `${OP_LABEL[op]}: ${r.commands} remote scripts on ${r.hosts} host(s); per host (median): ${s(r.busyPerHostMs)} s inside the host, spread over ${s(r.spanPerHostMs)} s from the first script's start to the last one's end; waiting for the host lock: ${s(r.lockWaitPerHostMs)} s` +
          (r.cpuPerHostMs !== undefined ? `; CPU of the scripts inside the host: ${s(r.cpuPerHostMs)} s per host` : "") +
          (op === "apply" && p.channelLatencyMs !== undefined ? `; from the provider's command to the script starting in the host (channel open, bash): ${s(p.channelLatencyMs)} s median.` : "."),
        "",
        "| remote script | count | total s | median s | CPU s (all hosts) |",
        "|---|---:|---:|---:|---:|",
        ...r.categories.filter(readable).map((c) => `| ${c.category} | ${c.count} | ${s(c.totalMs)} | ${s(c.medianMs)} | ${c.cpuMs === undefined ? "–" : s(c.cpuMs)} |`),
        "",
      );
      const garbled = r.categories.filter((c) => !readable(c)).reduce((n, c) => n + c.count, 0);
      if (garbled) out.push(`(${garbled} log lines of this pass were garbled by concurrent appends and are left out; the hook writes whole lines since.)`, "");
    }
  }
  return out.join("\n");
}

// ------------------------------------------------------------------ main

interface Saved {
  machine: Machine;
  args: Args;
  measurements: Measurement[];
  profiles: ProfileRecord[];
  micro?: Awaited<ReturnType<typeof microMeasures>>;
  failures: { tool: Tool; hosts: number; run: number; error: string }[];
}

function writeReport(saved: Saved[], doc: boolean, out: string): void {
  const measurements = saved.flatMap((s) => s.measurements);
  const profiles = saved.flatMap((s) => s.profiles);
  const micro = saved.map((s) => s.micro).find(Boolean);
  const machine = saved[0].machine;
  const sections: Record<string, string> = {
    machine: machineTable(machine) + (saved.length > 1 ? `\n- Combined from ${saved.length} bench runs: ${saved.map((s) => `${s.machine.date} (${s.machine.tree})`).join(", ")}.` : ""),
    results: resultsTable(measurements),
    slope: slopeTable(measurements),
    targets: targets(measurements),
    experiments: experimentsTable(measurements) ?? "No experiments in this run.",
    cpu: cpuTable(measurements) ?? "No CPU measurement in these runs.",
    profile: profiles.length ? profileMarkdown(profiles, micro) : "No profile pass in this run.",
  };
  const failures = saved.flatMap((s) => s.failures ?? []);
  if (failures.length) {
    sections.experiments +=
      "\n\nFailures:\n\n" +
      failures.map((f) => `- ${f.tool}, ${f.hosts} host(s), run ${f.run}: ${f.error.split("\n")[0]}`).join("\n");
  }
  writeFileSync(out, Object.entries(sections).map(([name, body]) => `## ${name}\n\n${body}\n`).join("\n"));
  log(`report: ${out}`);
  if (doc) {
    const file = join(repoRoot, "docs", "BENCHMARKS.md");
    for (const [name, body] of Object.entries(sections)) replaceSection(file, name, body);
    log(`docs/BENCHMARKS.md: generated sections updated`);
  }
}

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2));
  const resultsDir = join(__dirname, "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");

  if (args.from) {
    const saved = args.from.map((file) => JSON.parse(readFileSync(file, "utf8")) as Saved);
    writeReport(saved, args.doc, join(resultsDir, `combined-${stamp}.md`));
    return 0;
  }
  const estimated = estimate(args);
  log(`plan: hosts ${args.hosts.join(",")} x ${args.runs} run(s), tools ${args.tools.join(",")}${args.profile ? ", then a profile pass" : ""}; estimated ${Math.round(estimated / 60)} min on this machine`);
  if (args.estimate) {
    for (const n of args.hosts) log(`  ${n} host(s): ${args.tools.map((t) => `${t} ~${Math.round(estimateSeconds(t, n))} s`).join(", ")} per run`);
    return 0;
  }
  if (process.getuid?.() !== 0) throw new Error("the benchmark needs root (it starts sandbox hosts)");
  checkFilesMatchProgram();
  if (args.tools.includes("ansible")) await ensureAnsible(log);

  const tree = await projectTree(args.ref, args.patches);
  useSandboxOf(tree.root);
  // The trees of project@<commit> tools: snapshots made the same way as --ref's.
  const others = new Map<string, Tree>();
  for (const ref of new Set(args.tools.map((tool) => parseTool(tool).ref).filter((ref): ref is string => ref !== undefined))) others.set(ref, await projectTree(ref));
  for (const measured of [tree, ...others.values()]) {
    const ms = await warmBundles(measured.root);
    if (ms !== undefined) log(`bundles of ${measured.description} made before the timed runs (a user's first run after a change pays this once): ${(ms / 1000).toFixed(1)} s`);
  }
  const pulumiBin = (await pulumiCommand()).command;
  const workDir = join("/tmp", `pbn-bench-${process.pid}`);
  mkdirSync(workDir, { recursive: true });
  const saved: Saved = { machine: await describeMachine(tree, pulumiBin), args, measurements: [], profiles: [], failures: [] };
  for (const [ref, other] of others) saved.machine.tree += `; project@${ref}: ${other.description}`;
  const resultsFile = join(resultsDir, `${stamp}.json`);
  const save = () => writeFileSync(resultsFile, JSON.stringify(saved, null, 1));
  log(`measuring ${tree.description}; results go to ${resultsFile}`);

  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log("interrupted: removing the sandbox (stacks of the run may remain in .pulumi-state/)");
    void sandboxDown().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const ctx: Context = {
      patchLabel: args.patches.length ? args.patches.map((p) => p.split("/").pop()!.replace(/\.diff$/, "")).join("+") : undefined,
      supports: new Map([["", loadProgramSupport(tree.root)], ...[...others].map(([ref, other]) => [ref, loadProgramSupport(other.root)] as const)]),
      measurements: saved.measurements, failures: saved.failures, save, workDir };
    for (let run = 1; run <= args.runs; run++) {
      for (const n of args.hosts) {
        const reference: { state?: string } = {};
        for (const tool of args.tools) {
          try {
            await measureTool(ctx, tool, n, run, reference);
          } catch (error) {
            // One tool failing (e.g. an experiment) does not lose the rest of the run.
            const message = (error as Error).message ?? String(error);
            // The CLI's output is long; keep the lines that name the host and the cause.
            const cause = message.split("\n").filter((line) => /\[host |error:/.test(line)).map((line) => line.trim());
            const summary = (cause.find((line) => /\[host /.test(line)) ?? cause[0] ?? message.slice(0, 300)).replace(/^.*?error: /, "");
            log(`FAILED: run ${run}, ${n} host(s), ${tool}: ${summary}`);
            ctx.failures.push({ tool: recordedName(ctx, tool), hosts: n, run, error: summary });
            save();
          }
        }
      }
    }
    if (args.profile) {
      // Each project tree once (its variants measure the engine's settings, not the fixed cost).
      const profiled = args.tools.filter((tool) => parseTool(tool).variant === "project");
      for (const n of args.hosts) {
        for (const tool of profiled.length ? profiled : (["project"] as Tool[])) {
          saved.profiles.push(await profilePass(ctx, n, tool));
          save();
        }
      }
      try {
        const { inventory, knownHosts } = await hostsFor(1, "fixed costs", workDir);
        const host = inventory.hosts[0];
        const { value } = await step("fixed costs: node, tsx + providers, pulumi CLI, one OpenSSH session", () =>
          microMeasures(tree.root, pulumiBin, { args: [...opensshArgs(knownHosts, host.privateKeyPath), "-p", String(host.sshPort)], target: `${host.user}@${host.address}` }),
        );
        saved.micro = value;
      } catch (error) {
        log(`fixed costs not measured: ${(error as Error).message.split("\n")[0]}`);
      }
    }
    saved.machine.loadAfter = loadavg().map((l) => l.toFixed(2)).join(" ");
    save();
    writeReport([saved], args.doc, join(resultsDir, `${stamp}.md`));
  } finally {
    await step("tear down: sandbox down", () => sandboxDown());
    tree.dispose();
    for (const other of others.values()) other.dispose();
    await runProcess("rm", ["-rf", workDir]);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    process.exit(1);
  },
);
