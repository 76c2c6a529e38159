/**
 * A/B of a proposed change on preview time, alternating so that load changes hit both alike:
 *   node --import tsx bench/ab-preview.ts <hosts> <patch.diff> [ref=HEAD] [rounds=3]
 * Two snapshots of `ref` (one with the patch), two stacks on the same fresh sandbox hosts,
 * `preview` (no SSH) A, B, A, B...
 */
import "./env";
import { resolve } from "node:path";
import { projectTree } from "./tree";
import { loadProgramSupport } from "./project";
import { freshHosts, sandboxDown, useSandboxOf } from "./hosts";
import { log, median } from "./util";
(async () => {
  const n = Number(process.argv[2]);
  if (!process.argv[3]) throw new Error("usage: bench/ab-preview.ts <hosts> <patch.diff> [ref=HEAD] [rounds=3]");
  const patch = resolve(process.argv[3]);
  const ref = process.argv[4] ?? "HEAD";
  const rounds = Math.min(10, Number(process.argv[5] ?? 3));
  if (!Number.isInteger(n) || n < 1 || n > 40) throw new Error("hosts: 1..40");
  const a = await projectTree(ref);
  const b = await projectTree(ref, [patch]);
  useSandboxOf(a.root);
  const inv = await freshHosts(n);
  const sa = loadProgramSupport(a.root), sb = loadProgramSupport(b.root);
  const pa = await sa.ProgramStack.create(`test-bench-abA-${process.pid}`, sa.sandboxConfig(inv.hosts.map((host) => ({ host }))));
  const pb = await sb.ProgramStack.create(`test-bench-abB-${process.pid}`, sb.sandboxConfig(inv.hosts.map((host) => ({ host }))));
  const ta: number[] = [], tb: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      for (const [p, t, name] of [[pa, ta, "as committed"], [pb, tb, patch.split("/").pop()!]] as const) {
        const t0 = performance.now();
        await p.stack.preview();
        t.push(performance.now() - t0);
        log(`preview ${n} hosts, empty stack, ${name}: ${(t[t.length - 1] / 1000).toFixed(1)} s; activity ${JSON.stringify(p.sshActivity())}`);
      }
    }
    log(`MEDIANS ${n} hosts: as committed ${(median(ta) / 1000).toFixed(1)} s [${ta.map((x) => (x / 1000).toFixed(1)).join(", ")}], patched ${(median(tb) / 1000).toFixed(1)} s [${tb.map((x) => (x / 1000).toFixed(1)).join(", ")}]`);
  } finally {
    await pa.remove(); await pb.remove();
    await sandboxDown(); a.dispose(); b.dispose();
  }
})().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
