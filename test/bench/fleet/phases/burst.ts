// The burst: `burst.tasks` submissions at once over all four pools, every task lasting the same
// `burst.durationMs`. Once all have started, nothing is submitted and nothing can finish until
// the first of them has run its full duration: that stretch is the background window, where
// every statement is what running tasks and an idle queue cost per second.
import { attribute, topStatements, type Attribution, type RankedStatement } from '../attribution.js';
import { poolsAtRest, sleep, submissionsTo, takeSnapshot, waitUntil, type RunContext } from '../context.js';
import { connectionsInUse, difference } from '../pg-stats.js';

export interface BurstResult {
  tasks: number;
  /** Wall time to send them all (100 requests in flight). */
  submitS: number;
  /** submit → start of each burst task, ms. */
  latencies: number[];
  /** From the first submission to the last start. */
  allStartedS: number;
  background: BackgroundResult | { reason: string };
}

export interface BackgroundResult {
  seconds: number;
  /** Tasks running at the window's start and end (the same: nothing starts or ends). */
  running: number;
  finishedInWindow: number;
  /** The daemons' connections running a statement, mean of 1 s samples, and how many they had. */
  connections: { meanActive: number; total: number };
  attribution: Attribution;
  top: RankedStatement[];
}

const SAFETY_MS = 3000;

export async function burst(ctx: RunContext): Promise<BurstResult> {
  const { plan } = ctx;
  const phase = 'burst';
  const tasks = plan.burst.tasks;
  const make = submissionsTo(ctx, plan.pools, phase, plan.burst.durationMs);
  ctx.log(`burst: ${tasks} submissions at once, each task ${plan.burst.durationMs / 1000} s`);
  const began = performance.now();
  await ctx.submitter.burst(Array.from({ length: tasks }, make));
  const submitS = (performance.now() - began) / 1000;
  let progress = await ctx.observer.progress(phase);
  await waitUntil(
    ctx,
    'burst',
    async () => (progress = await ctx.observer.progress(phase)).started >= progress.submitted,
    () => `${progress.started}/${progress.submitted} started`,
    plan.burst.durationMs + 120_000,
    500,
  );
  const times = await ctx.observer.phaseTimes(phase);
  const latencies = (await ctx.observer.startLatencies(phase)).map((l) => l.ms);
  const allStartedS = (times.lastStarted - times.firstCreated) / 1000;
  ctx.log(`burst: ${progress.submitted} started ${allStartedS.toFixed(1)} s after the first submission`);
  const background = await backgroundWindow(ctx, times.firstStarted);
  // The steady phase starts from a quiet fleet: the burst's tasks end first ...
  await waitUntil(
    ctx,
    'burst tasks ending',
    async () => (progress = await ctx.observer.progress(phase)).finished >= progress.submitted,
    () => `${progress.finished}/${progress.submitted} finished`,
    plan.burst.durationMs + 300_000,
    1000,
  );
  // ... and the pools are back at rest: the burst's delete-pool machines are all replaced at once,
  // and a steady ramp starting before that would measure the recovery, not the steady state.
  let rest = { atRest: false, ready: 0, wanted: 0 };
  await waitUntil(ctx, 'pools back at rest after the burst', async () => (rest = await poolsAtRest(ctx, plan.pools)).atRest, () => `${rest.ready}/${rest.wanted} ready`, 300_000, 1000);
  return { tasks: progress.submitted, submitS, latencies, allStartedS, background };
}

async function backgroundWindow(ctx: RunContext, firstStarted: number): Promise<BackgroundResult | { reason: string }> {
  const { plan } = ctx;
  const start = await ctx.observer.now();
  const end = firstStarted + plan.burst.durationMs - SAFETY_MS;
  if ((end - start) / 1000 < plan.burst.minBackgroundS) {
    return { reason: `the burst took too long to start: ${((end - start) / 1000).toFixed(1)} s were left before its first task could end (at least ${plan.burst.minBackgroundS} s needed)` };
  }
  const before = await takeSnapshot(ctx);
  const runningBefore = await ctx.observer.running();
  ctx.log(`background: ${runningBefore} tasks running, no submissions, ${((end - start) / 1000).toFixed(0)} s`);
  const active: number[] = [];
  let total = 0;
  // The server's clock and ours are the same machine's.
  for (let now = Date.now(); now < end; now = Date.now()) {
    await sleep(Math.min(1000, end - now));
    const use = await connectionsInUse(ctx.stats, ctx.database);
    active.push(use.active);
    total = Math.max(total, use.total);
  }
  const runningAfter = await ctx.observer.running();
  const after = await takeSnapshot(ctx);
  const finishedInWindow = await ctx.observer.finishedBetween(before.at, after.at);
  const delta = difference(before, after);
  if (finishedInWindow > 0 || runningBefore !== runningAfter) {
    return { reason: `tasks started or ended in the background window (${runningBefore} → ${runningAfter} running, ${finishedInWindow} finished)` };
  }
  const connections = { meanActive: active.reduce((a, b) => a + b, 0) / Math.max(1, active.length), total };
  return { seconds: delta.seconds, running: runningBefore, finishedInWindow, connections, attribution: attribute(delta, ctx.classifier), top: topStatements(delta, ctx.classifier) };
}
