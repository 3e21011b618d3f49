// Steady state: submissions over all four pools at the rate that keeps `steady.concurrency`
// tasks running (Little's law: concurrency / mean duration), first for `rampS` (the longest
// task, so the running set has turned over), then the measured window: CPU of the daemons and
// of every PostgreSQL process, the daemons' RSS, statements, and submit → start of the tasks
// submitted in the window.
import { attribute, topStatements, type Attribution, type RankedStatement } from '../attribution.js';
import { sleep, submissionsTo, takeSnapshot, waitUntil, type RunContext } from '../context.js';
import { difference } from '../pg-stats.js';
import { meanDurationMs } from '../plan.js';
import { peakRssMiB, processCpuSeconds, rssMiB, treeCpuSeconds } from '../proc.js';
import { percentile } from '../../figures.js';

export interface SteadyResult {
  perSecond: number;
  seconds: number;
  /** Mean of the running counts sampled in the window. */
  running: number;
  /** submit → start of the tasks submitted in the window, ms. */
  latencies: number[];
  /** Of those, still not started when the harness stopped waiting. */
  notStarted: number;
  finishedInWindow: number;
  /** Per daemon: CPU % of one core, median RSS over the window and its peak ever. */
  daemons: { cpuPct: number; rssMiB: number; peakMiB: number }[];
  postgresCpuPct: number;
  attribution: Attribution;
  top: RankedStatement[];
}

const SAMPLE_MS = 1000;

export async function steady(ctx: RunContext): Promise<SteadyResult> {
  const { plan } = ctx;
  const phase = 'steady';
  const perSecond = plan.steady.concurrency / (meanDurationMs(plan.durations) / 1000);
  ctx.log(`steady: ${perSecond.toFixed(1)} submissions/s for ${plan.steady.concurrency} running; ramp ${plan.steady.rampS} s, then ${plan.steady.windowS} s measured`);
  const submitting = ctx.submitter.paced(submissionsTo(ctx, plan.pools, phase), perSecond);
  try {
    for (const end = Date.now() + plan.steady.rampS * 1000; Date.now() < end; ) {
      await sleep(Math.min(15_000, end - Date.now()));
      if (ctx.daemons.some((d) => !d.alive)) throw new Error('a daemon exited during the steady ramp');
      ctx.log(`steady ramp: ${await ctx.observer.running()} running`);
    }
    const pids = ctx.daemons.map((d) => d.pid);
    const before = await takeSnapshot(ctx);
    const cpuBefore = await Promise.all(pids.map(processCpuSeconds));
    const pgBefore = await treeCpuSeconds(ctx.cluster.pid);
    const rss: number[][] = pids.map(() => []);
    const running: number[] = [];
    for (const end = Date.now() + plan.steady.windowS * 1000; Date.now() < end; ) {
      await sleep(SAMPLE_MS);
      for (const [i, pid] of pids.entries()) {
        const mib = await rssMiB(pid);
        if (mib !== null) rss[i]!.push(mib);
      }
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
    // Tasks submitted in the window start later than its end when the fleet lags: wait for them.
    let pending = 0;
    await waitUntil(
      ctx,
      'steady window tasks starting',
      async () => (pending = (await ctx.observer.startLatencies(phase, before.at, after.at)).filter((ms) => ms === null).length) === 0,
      () => `${pending} not started yet`,
      plan.durations.maxMs + 60_000,
      1000,
    ).catch((error: unknown) => ctx.log(String(error)));
    const all = await ctx.observer.startLatencies(phase, before.at, after.at);
    const result: SteadyResult = {
      perSecond,
      seconds,
      running: running.length ? running.reduce((a, b) => a + b, 0) / running.length : Number.NaN,
      latencies: all.filter((ms): ms is number => ms !== null),
      notStarted: all.filter((ms) => ms === null).length,
      finishedInWindow: await ctx.observer.finishedBetween(before.at, after.at),
      daemons,
      postgresCpuPct: (100 * (pgAfter - pgBefore)) / seconds,
      attribution: attribute(delta, ctx.classifier),
      top: topStatements(delta, ctx.classifier),
    };
    ctx.log(`steady: ${result.running.toFixed(0)} running, ${result.latencies.length} submitted in the window, daemon CPU ${daemons.map((d) => d.cpuPct.toFixed(0)).join('/')}%, PostgreSQL ${result.postgresCpuPct.toFixed(0)}%`);
    return result;
  } finally {
    await submitting.stop();
  }
}
