// sandfleet's own scaling policy: react to every tick. Grow the pool to
//   desired = clamp(queued + leased + min_ready, 0, max_size)
// counting machines that are (or will be) available; shrink only when nothing is to be created,
// by draining ready machines idle past idle_timeout_s beyond what queued work and min_ready need.
import type { PoolRow } from '../../db/schema.js';
import type { AutoscalePolicy, PoolLoad, ScalePlan } from './policy.js';

export interface DemandPolicyOptions {
  /**
   * Divides idle_timeout_s, for runs in accelerated time (a benchmark replaying a day in
   * minutes); 1 in production. The pool row keeps its whole seconds.
   */
  timeScale?: number;
}

export function desiredSize(pool: PoolRow, load: PoolLoad): number {
  if (!pool.active) return 0;
  return Math.max(0, Math.min(pool.maxSize, load.queued + load.leased + pool.minReady));
}

export function demandPlan(pool: PoolRow, load: PoolLoad, timeScale = 1): ScalePlan {
  const supply = load.leased + load.ready + load.coming;
  const create = Math.max(0, desiredSize(pool, load) - supply);
  // Ready machines the queue and min_ready do not need; only those idle long enough go.
  const spare = load.ready - Math.max(pool.active ? pool.minReady : 0, load.queued);
  const drain = create > 0 ? 0 : Math.max(0, spare);
  return { create, drain, drainIdleForMs: (pool.idleTimeoutS * 1000) / timeScale };
}

export function demandPolicy(options: DemandPolicyOptions = {}): AutoscalePolicy {
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be positive, got ${timeScale}`);
  return { name: 'sandfleet', plan: (pool, load) => demandPlan(pool, load, timeScale) };
}
