// A fixed-interval "leaky bucket" scaling policy, the usual alternative to sandfleet's reactive
// one (policies/demand.ts), kept for comparison (test/bench/economics.ts). Every `intervalS` it
// sets the pool's target to
//   target = clamp(ceil((1 + overprovision) × D), min_ready, max_size)
// where D, the recent demand, is the time-weighted mean over the interval just ended of
//   queued + leased + recycling
// (tasks waiting, tasks running, and machines on their way back from a task), sampled on every
// tick. It then creates machines up to the target and drains ready machines above it (any idle
// time, never more than the queue leaves spare). Between evaluations it does nothing: work that
// arrives fills the bucket (the queue), which the fixed capacity drains at its own rate.
import type { PoolRow } from '../../db/schema.js';
import type { AutoscalePolicy, PoolLoad, ScalePlan } from './policy.js';

export interface LeakyBucketSettings {
  /** Re-evaluation interval, in milliseconds of the clock `now` is read from. */
  intervalMs: number;
  /** 0.2: the target is 20 % above the recent demand. */
  overprovision: number;
}

/** What the policy remembers about one pool between ticks. */
export interface LeakyBucketState {
  /** When the target was last set (ms). */
  evaluatedAt: number;
  /** The target set then. */
  target: number;
  /** Demand seen at the last tick, and when: it holds until the next tick. */
  lastDemand: number;
  lastSampleAt: number;
  /** ∫ demand dt since `evaluatedAt` (machine·ms). */
  area: number;
}

export interface LeakyBucketStep {
  state: LeakyBucketState;
  plan: ScalePlan;
  /** Set when this tick re-evaluated: the mean demand D it used. */
  demand?: number;
}

const NOTHING: ScalePlan = { create: 0, drain: 0, drainIdleForMs: 0 };

/** Tasks waiting, tasks running, and machines busy recovering from a task: what the work occupies. */
export function demandOf(load: PoolLoad): number {
  return load.queued + load.leased + load.recycling;
}

export function targetFor(pool: PoolRow, demand: number, overprovision: number): number {
  if (!pool.active) return 0;
  // Rounded first, so that 1.2 × 5 is 6 and not 6.000000000000001 → 7.
  const wanted = Math.ceil(Math.round(demand * (1 + overprovision) * 1e6) / 1e6);
  return Math.max(pool.minReady, Math.min(pool.maxSize, wanted));
}

/**
 * One tick of the policy for one pool, pure: the state it leaves and what to do now. The first
 * tick (no state) evaluates at once from the demand it sees.
 */
export function leakyBucketStep(state: LeakyBucketState | undefined, pool: PoolRow, load: PoolLoad, nowMs: number, settings: LeakyBucketSettings): LeakyBucketStep {
  const current = demandOf(load);
  if (state === undefined) return evaluate(pool, load, nowMs, current, settings);
  const area = state.area + state.lastDemand * Math.max(0, nowMs - state.lastSampleAt);
  const elapsed = nowMs - state.evaluatedAt;
  if (elapsed < settings.intervalMs) {
    return { state: { ...state, area, lastDemand: current, lastSampleAt: nowMs }, plan: NOTHING };
  }
  return evaluate(pool, load, nowMs, elapsed > 0 ? area / elapsed : current, settings, current);
}

function evaluate(pool: PoolRow, load: PoolLoad, nowMs: number, demand: number, settings: LeakyBucketSettings, current = demand): LeakyBucketStep {
  const target = targetFor(pool, demand, settings.overprovision);
  const supply = load.leased + load.ready + load.coming;
  const create = Math.max(0, target - supply);
  const drain = Math.max(0, Math.min(load.ready - load.queued, supply - target));
  return {
    state: { evaluatedAt: nowMs, target, lastDemand: current, lastSampleAt: nowMs, area: 0 },
    plan: { create, drain, drainIdleForMs: 0 },
    demand,
  };
}

export interface LeakyBucketOptions {
  /** Re-evaluation interval in (trace) seconds. Default 300. */
  intervalS?: number;
  /** Default 0.2. */
  overprovision?: number;
  /** Divides the interval, for runs in accelerated time; 1 in production. */
  timeScale?: number;
  /** Told of every re-evaluation (benchmarks log the targets). */
  onEvaluate?: (pool: string, demand: number, target: number, now: Date) => void;
}

export function leakyBucketPolicy(options: LeakyBucketOptions = {}): AutoscalePolicy {
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError(`timeScale must be positive, got ${timeScale}`);
  const settings: LeakyBucketSettings = { intervalMs: ((options.intervalS ?? 300) * 1000) / timeScale, overprovision: options.overprovision ?? 0.2 };
  const states = new Map<string, LeakyBucketState>();
  return {
    name: 'leaky-bucket',
    plan(pool, load, now) {
      const step = leakyBucketStep(states.get(pool.name), pool, load, now.getTime(), settings);
      states.set(pool.name, step.state);
      if (step.demand !== undefined) options.onEvaluate?.(pool.name, step.demand, step.state.target, now);
      return step.plan;
    },
  };
}
