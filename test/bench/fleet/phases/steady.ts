// Steady state: submissions over all four pools at the rate that keeps `steady.concurrency`
// tasks running (Little's law: concurrency / mean duration), first for `rampS` (the longest
// task, so the running set has turned over), then the measured window: CPU of the daemons and
// of every PostgreSQL process, the daemons' RSS, statements, connections in use, and submit →
// start of the tasks submitted in the window. With a deadline (quick), the ramp, the window
// and the wait for late starts shrink to fit, and the report says so.
import { attribute, topStatements, type Attribution, type RankedStatement } from '../attribution.js';
import { sleep, submissionsTo, takeSnapshot, waitUntil, type RunContext } from '../context.js';
import { connectionsInUse, difference } from '../pg-stats.js';
import { meanDurationMs } from '../plan.js';
import { peakRssMiB, processCpuSeconds, rssMiB, treeCpuSeconds } from '../proc.js';
import { percentile } from '../../figures.js';

export interface SteadyResult {
  perSecond: number;
  rampS: number;
  seconds: number;
  /** Mean of the running counts sampled in the window. */
  running: number;
  /** submit → start of the tasks submitted in the window, ms; a task not started counts with its wait so far. */
  latencies: number[];
  /** Of those, not started when the harness stopped waiting: the percentiles are then lower bounds. */
  notStarted: number;
  finishedInWindow: number;
  /** Per daemon: CPU % of one core, median RSS over the window and its peak ever. */
  daemons: { cpuPct: number; rssMiB: number; peakMiB: number }[];
  postgresCpuPct: number;
  /** The daemons' connections running a statement (or in a transaction), mean and max of 1 s samples, and how many they had. */
  connections: { meanActive: number; maxActive: number; total: number };
  attribution: Attribution;
  top: RankedStatement[];
  /** What was cut short, if anything: the ramp or window for the deadline, the wait for late starts. */
  squeezed: string[];
}

const SAMPLE_MS = 1000;
/** Kept free before the deadline for stopping the daemons, the cluster and writing the report. */
const CLEANUP_MS = 8000;
const MIN_MS = 5000;

export async function steady(ctx: RunContext): Promise<SteadyResult> {
  const { plan } = ctx;
  const phase = 'steady';
  const left = () => (plan.deadline === null ? Number.POSITIVE_INFINITY : plan.deadline - Date.now() - CLEANUP_MS);
  const lateWaitMs = plan.durations.maxMs + 60_000;
  const squeezed: string[] = [];
  const windowWanted = plan.steady.windowS * 1000;
  // The deadline shortens the ramp first, keeping the window whole (and 10 s for late starts).
  const rampMs = Math.max(MIN_MS, Math.min(plan.steady.rampS * 1000, left() - windowWanted - 10_000));
  if (rampMs < plan.steady.rampS * 1000) squeezed.push(`ramp ${(rampMs / 1000).toFixed(0)} s instead of ${plan.steady.rampS} s`);
  const perSecond = plan.steady.concurrency / (meanDurationMs(plan.durations) / 1000);
  ctx.log(`steady: ${perSecond.toFixed(1)} submissions/s for ${plan.steady.concurrency} running; ramp ${(rampMs / 1000).toFixed(0)} s, then up to ${plan.steady.windowS} s measured`);
  const submitting = ctx.submitter.paced(submissionsTo(ctx, plan.pools, phase), perSecond);
  try {
    for (const end = Date.now() + rampMs; Date.now() < end; ) {
      await sleep(Math.min(15_000, end - Date.now()));
      if (ctx.daemons.some((d) => !d.alive)) throw new Error('a daemon exited during the steady ramp');
      ctx.log(`steady ramp: ${await ctx.observer.running()} running`);
    }
    const windowMs = Math.max(MIN_MS, Math.min(windowWanted, left() - 2000));
    if (windowMs < windowWanted) squeezed.push(`window ${(windowMs / 1000).toFixed(0)} s instead of ${plan.steady.windowS} s`);
    const pids = ctx.daemons.map((d) => d.pid);
    const before = await takeSnapshot(ctx);
    const cpuBefore = await Promise.all(pids.map(processCpuSeconds));
    const pgBefore = await treeCpuSeconds(ctx.cluster.pid);
    const rss: number[][] = pids.map(() => []);
    const running: number[] = [];
    const active: number[] = [];
    let total = 0;
    for (const end = Date.now() + windowMs; Date.now() < end; ) {
      await sleep(Math.min(SAMPLE_MS, end - Date.now()));
      for (const [i, pid] of pids.entries()) {
        const mib = await rssMiB(pid);
        if (mib !== null) rss[i]!.push(mib);
      }
      const use = await connectionsInUse(ctx.stats, ctx.database);
      active.push(use.active);
      total = Math.max(total, use.total);
      if (running.length < (Date.now() - before.at) / 5000) running.push(await ctx.observer.running());
    }
    const after = await takeSnapshot(ctx);
    const cpuAfter = await Promise.all(pids.map(processCpuSeconds));
    const pgAfter = await treeCpuSeconds(ctx.cluster.pid);
    const delta = difference(before, after);
    const seconds = delta.seconds;
    await submitting.stop();
    const daemons = await Promise.all(
      pids.map(async (pid, i) => ({
        cpuPct: (100 * (cpuAfter[i]! - cpuBefore[i]!)) / seconds,
        rssMiB: percentile([...rss[i]!].sort((a, b) => a - b), 50),
        peakMiB: (await peakRssMiB(pid)) ?? Number.NaN,
      })),
    );
    // Tasks submitted in the window may start after it: wait for them, as long as the deadline allows.
    const waitMs = Math.max(0, Math.min(lateWaitMs, left()));
    let pending = 0;
    await waitUntil(
      ctx,
      'steady window tasks starting',
      async () => (pending = (await ctx.observer.startLatencies(phase, before.at, after.at)).filter((l) => !l.started).length) === 0,
      () => `${pending} not started yet`,
      waitMs,
      1000,
    ).catch((error: unknown) => {
      if (ctx.daemons.some((d) => !d.alive)) throw error;
      squeezed.push(`the wait for late starts (${pending} tasks of the window had not started ${(waitMs / 1000).toFixed(0)} s after it)`);
    });
    const all = await ctx.observer.startLatencies(phase, before.at, after.at);
    const result: SteadyResult = {
      perSecond,
      rampS: rampMs / 1000,
      seconds,
      running: running.length ? running.reduce((a, b) => a + b, 0) / running.length : Number.NaN,
      latencies: all.map((l) => l.ms),
      notStarted: all.filter((l) => !l.started).length,
      finishedInWindow: await ctx.observer.finishedBetween(before.at, after.at),
      daemons,
      postgresCpuPct: (100 * (pgAfter - pgBefore)) / seconds,
      connections: { meanActive: active.length ? active.reduce((a, b) => a + b, 0) / active.length : Number.NaN, maxActive: Math.max(0, ...active), total },
      attribution: attribute(delta, ctx.classifier),
      top: topStatements(delta, ctx.classifier),
      squeezed,
    };
    ctx.log(
      `steady: ${result.running.toFixed(0)} running, ${result.latencies.length} submitted in the window, daemon CPU ${daemons.map((d) => d.cpuPct.toFixed(0)).join('/')}%, PostgreSQL ${result.postgresCpuPct.toFixed(0)}%, ${result.connections.meanActive.toFixed(1)} of ${total} connections busy${squeezed.length ? `; ${squeezed.join(', ')}` : ''}`,
    );
    return result;
  } finally {
    await submitting.stop();
  }
}
