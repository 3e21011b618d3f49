// Warm: the daemons fill every pool to its min_ready (the whole fleet) from nothing; then the
// fleet rests for a while, which is the idle baseline (what supervision, reconciling and the
// queue cost with every machine ready and nothing running) and lets PostgreSQL's counters of
// the warm-up settle before the first window.
import { attribute, type Attribution } from '../attribution.js';
import { difference, type StatsSnapshot } from '../pg-stats.js';
import { poolsAtRest, sleep, takeSnapshot, waitUntil, type RunContext } from '../context.js';

export interface WarmResult {
  /** From the daemons' start to every machine ready. */
  seconds: number;
  idle: { seconds: number; attribution: Attribution };
  /** Taken at the end of the idle baseline: where the first window starts. */
  after: StatsSnapshot;
}

export async function warm(ctx: RunContext, startedAt: number): Promise<WarmResult> {
  const { plan } = ctx;
  let state = { atRest: false, ready: 0, wanted: plan.machines };
  await waitUntil(
    ctx,
    'warm',
    async () => (state = await poolsAtRest(ctx, plan.pools)).atRest,
    () => `${state.ready.toLocaleString('en-US')}/${state.wanted.toLocaleString('en-US')} machines ready`,
    plan.warmTimeoutS * 1000,
    2000,
  );
  const seconds = (Date.now() - startedAt) / 1000;
  ctx.log(`warm: ${plan.machines.toLocaleString('en-US')} machines ready after ${seconds.toFixed(0)} s; idle baseline ${plan.idleS} s`);
  const before = await takeSnapshot(ctx);
  await sleep(plan.idleS * 1000);
  const after = await takeSnapshot(ctx);
  const delta = difference(before, after);
  return { seconds, idle: { seconds: delta.seconds, attribution: attribute(delta, ctx.classifier) }, after };
}
