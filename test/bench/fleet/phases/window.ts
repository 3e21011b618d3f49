// A closed window per recycle mode: from the fleet at rest, tasks go only to that mode's two
// pools, submitted at the rate that keeps `window.concurrency` of them running, for `submitS`
// seconds; the window closes when every one of them has finished, the pools are back at rest
// (reimaged machines ready again, deleted ones replaced) and PostgreSQL's counters have settled.
// Everything the database did in between is the cost of those tasks, background included (the
// idle baseline says how much of it the fleet would spend anyway), so the attribution to a mode
// needs no guessing: nothing else ran.
import { attribute, topStatements, type Attribution, type RankedStatement } from '../attribution.js';
import { poolsAtRest, sleep, submissionsTo, takeSnapshot, waitUntil, type RunContext } from '../context.js';
import { difference, type StatsDelta, type StatsSnapshot } from '../pg-stats.js';
import { meanDurationMs, type Recycle } from '../plan.js';

export interface WindowResult {
  mode: Recycle;
  tasks: number;
  completed: number;
  unsuccessful: number;
  perSecond: number;
  /** From the first submission to the last (the rate's period, longer when the API fell behind). */
  submittedOverS: number;
  seconds: number;
  /** From the last task's end to the pools at rest. */
  restS: number;
  delta: StatsDelta;
  attribution: Attribution;
  /** The daemons' statements with the most calls in the window. */
  top: RankedStatement[];
}

export async function closedWindow(ctx: RunContext, mode: Recycle, before: StatsSnapshot): Promise<{ result: WindowResult; after: StatsSnapshot }> {
  const { plan } = ctx;
  const pools = plan.pools.filter((p) => p.recycle === mode);
  const phase = `window-${mode}`;
  const perSecond = plan.window.concurrency / (meanDurationMs(plan.durations) / 1000);
  const tasks = Math.max(1, Math.round(perSecond * plan.window.submitS));
  ctx.log(`${mode} window: ${tasks} tasks to ${pools.map((p) => p.name).join(' and ')} at ${perSecond.toFixed(1)}/s`);
  const submitting = ctx.submitter.paced(submissionsTo(ctx, pools, phase), perSecond, { limit: tasks });
  const timeoutMs = plan.window.submitS * 1000 + plan.durations.maxMs * 2 + 300_000;
  let progress = await ctx.observer.progress(phase);
  // A refused submission never runs: once all are answered, what was accepted is what must finish.
  let answered = false;
  void submitting.done.then(() => (answered = true));
  try {
    await waitUntil(
      ctx,
      `${mode} window`,
      async () => {
        progress = await ctx.observer.progress(phase);
        return answered && progress.finished >= progress.submitted;
      },
      () => `${progress.submitted}/${tasks} submitted, ${progress.running} running, ${progress.finished} finished`,
      timeoutMs,
      2000,
    );
  } catch (error) {
    // Say where the stragglers stand before the run's cluster is torn down.
    ctx.log(`${mode} window: unfinished tasks:\n${await ctx.observer.unfinished(phase).catch((e: unknown) => String(e))}`);
    throw error;
  }
  await submitting.done;
  const ended = Date.now();
  let rest = { atRest: false, ready: 0, wanted: 0 };
  await waitUntil(ctx, `${mode} pools back at rest`, async () => (rest = await poolsAtRest(ctx, pools)).atRest, () => `${rest.ready}/${rest.wanted} ready`, 300_000, 1000);
  const restS = (Date.now() - ended) / 1000;
  await sleep(plan.settleS * 1000);
  const after = await takeSnapshot(ctx);
  const delta = difference(before, after);
  const final = await ctx.observer.progress(phase);
  const times = await ctx.observer.phaseTimes(phase);
  const attribution = attribute(delta, ctx.classifier);
  ctx.log(`${mode} window: ${final.completed}/${tasks} completed in ${delta.seconds.toFixed(0)} s, ${(attribution.transactions / final.completed).toFixed(1)} transactions per task`);
  return { result: { mode, tasks: final.submitted, completed: final.completed, unsuccessful: final.unsuccessful, perSecond, submittedOverS: (times.lastCreated - times.firstCreated) / 1000, seconds: delta.seconds, restS, delta, attribution, top: topStatements(delta, ctx.classifier, 20) }, after };
}
