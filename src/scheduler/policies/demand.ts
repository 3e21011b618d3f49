// The demand policy (sandfleet's default before the forecasting one): react to every tick. Grow the pool to
//   desired = clamp(queued + leased + min_ready, 0, max_size)
// counting machines that are (or will be) available; shrink only when nothing is to be created,
// by draining ready machines idle past idle_timeout_s beyond what queued work and min_ready need.
// With the idle time fixed, the same rule gives two baselines the economics benchmark compares
// against: on-demand (idle machines go at once) and fixed keep-alive (kept 10 minutes).
import type { PoolRow } from '../../db/schema.js';
import type { AutoscalePolicy, PoolLoad, ScalePlan } from './policy.js';

export interface DemandPolicyOptions {
  /**
   * Divides idle_timeout_s, for runs in accelerated time (a benchmark replaying a day in
   * minutes); 1 in production. The pool row keeps its whole seconds.
   */
  timeScale?: number;
  /** Keep idle machines this long whatever the pool's idle_timeout_s (the fixed keep-alive baselines). */
  keepAliveS?: number;
  /** The policy's name in reports; `demand` by default. */
  name?: string;
}

export function desiredSize(pool: PoolRow, load: PoolLoad): number {
  if (!pool.active) return 0;
  return Math.max(0, Math.min(pool.maxSize, load.queued + load.leased + pool.minReady));
}

export function demandPlan(pool: PoolRow, load: PoolLoad, timeScale = 1, keepAliveS = pool.idleTimeoutS): ScalePlan {
  const supply = load.leased + load.ready + load.coming;
  const create = Math.max(0, desiredSize(pool, load) - supply);
  // Ready machines the queue and min_ready do not need; only those idle long enough go.
  const spare = load.ready - Math.max(pool.active ? pool.minReady : 0, load.queued);
  const drain = create > 0 ? 0 : Math.max(0, spare);
  return { create, drain, drainIdleForMs: (keepAliveS * 1000) / timeScale };
}

export function demandPolicy(options: DemandPolicyOptions = {}): AutoscalePolicy {
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be positive, got ${timeScale}`);
  const { keepAliveS } = options;
  if (keepAliveS !== undefined && !(keepAliveS >= 0)) throw new RangeError(`keepAliveS must be 0 or more, got ${keepAliveS}`);
  return { name: options.name ?? 'demand', plan: (pool, load) => demandPlan(pool, load, timeScale, keepAliveS ?? pool.idleTimeoutS) };
}

/** The common default of serverless platforms and CI runners: an idle machine is kept 10 minutes. */
export const KEEP_ALIVE_BASELINE_S = 600;

/** Baseline: idle machines kept a fixed 10 minutes, whatever the pool's idle_timeout_s. */
export function keepAlivePolicy(options: Pick<DemandPolicyOptions, 'timeScale'> = {}): AutoscalePolicy {
  return demandPolicy({ ...options, keepAliveS: KEEP_ALIVE_BASELINE_S, name: 'keep-alive' });
}

/** Baseline: no warm machine beyond min_ready; a machine no queued task needs goes as soon as it is ready. */
export function onDemandPolicy(options: Pick<DemandPolicyOptions, 'timeScale'> = {}): AutoscalePolicy {
  return demandPolicy({ ...options, keepAliveS: 0, name: 'on-demand' });
}
