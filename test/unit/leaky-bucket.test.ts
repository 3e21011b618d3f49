// The fixed-interval leaky-bucket policy's decision function (src/scheduler/policies/leaky-bucket.ts),
// on hand-made loads: it evaluates on its first tick, not again before the interval has passed,
// then sets the target from the time-weighted mean demand with 20 % on top.
import { describe, expect, it } from 'vitest';
import type { PoolRow } from '../../src/db/schema.js';
import type { PoolLoad } from '../../src/scheduler/policies/policy.js';
import { demandPlan, demandPolicy, keepAlivePolicy, onDemandPolicy } from '../../src/scheduler/policies/demand.js';
import { leakyBucketPolicy, leakyBucketStep, targetFor, type LeakyBucketSettings } from '../../src/scheduler/policies/leaky-bucket.js';
import { poolRow } from '../support/fixtures.js';

const pool = (overrides: Partial<PoolRow> = {}): PoolRow => poolRow({ minReady: 1, ...overrides });
const load = (l: Partial<PoolLoad>): PoolLoad => ({ queued: 0, leased: 0, ready: 0, coming: 0, recycling: 0, retiring: 0, ...l });
const settings: LeakyBucketSettings = { intervalMs: 300_000, overprovision: 0.2 };

describe('leaky-bucket target', () => {
  it('is ceil(1.2 × demand), without floating-point creep, within [min_ready, max_size]', () => {
    expect(targetFor(pool(), 5, 0.2)).toBe(6); // 1.2 × 5 is 6.000000000000001 in floating point
    expect(targetFor(pool(), 5.1, 0.2)).toBe(7);
    expect(targetFor(pool(), 0, 0.2)).toBe(1);
    expect(targetFor(pool({ minReady: 0 }), 0, 0.2)).toBe(0);
    expect(targetFor(pool(), 0.1, 0.2)).toBe(1);
    expect(targetFor(pool(), 100, 0.2)).toBe(50);
    expect(targetFor(pool({ active: false }), 100, 0.2)).toBe(0);
  });
});

describe('leaky-bucket step', () => {
  it('evaluates on its first tick from the demand it sees, then holds until the interval has passed', () => {
    const first = leakyBucketStep(undefined, pool(), load({ queued: 4, leased: 1 }), 0, settings);
    expect(first.demand).toBe(5);
    expect(first.state.target).toBe(6);
    // The leased machine is supply already: five more.
    expect(first.plan).toEqual({ create: 5, drain: 0, drainIdleForMs: 0 });
    // A flood of work 299 s later: no reaction between evaluations.
    const later = leakyBucketStep(first.state, pool(), load({ queued: 200, leased: 6 }), 299_000, settings);
    expect(later.demand).toBeUndefined();
    expect(later.plan).toEqual({ create: 0, drain: 0, drainIdleForMs: 0 });
    expect(later.state.target).toBe(6);
  });

  it('sets the target from the time-weighted mean of queued + leased + recycling over the interval', () => {
    // t=0: demand 0 (target min_ready). t=60 s: 10. t=300 s: re-evaluate.
    // Mean = (0 × 60 + 10 × 240) / 300 = 8 → target ceil(9.6) = 10.
    let step = leakyBucketStep(undefined, pool(), load({}), 0, settings);
    expect(step.state.target).toBe(1);
    expect(step.plan.create).toBe(1);
    step = leakyBucketStep(step.state, pool(), load({ queued: 5, leased: 3, recycling: 2, coming: 2 }), 60_000, settings);
    expect(step.plan.create).toBe(0);
    step = leakyBucketStep(step.state, pool(), load({ queued: 6, leased: 4, coming: 2, recycling: 1 }), 300_000, settings);
    expect(step.demand).toBeCloseTo(8, 10);
    expect(step.state.target).toBe(10);
    // Supply is leased 4 + ready 0 + coming 2 = 6: four more.
    expect(step.plan).toEqual({ create: 4, drain: 0, drainIdleForMs: 0 });
    // The next window starts from the demand seen at this tick (6 + 4 + 1 = 11), held for a whole interval.
    step = leakyBucketStep(step.state, pool(), load({ leased: 10 }), 600_000, settings);
    expect(step.demand).toBeCloseTo(11, 10);
    expect(step.state.target).toBe(14);
  });

  it('drains ready machines above the target, never ones the queue needs', () => {
    const start = leakyBucketStep(undefined, pool(), load({ leased: 1, ready: 5 }), 0, settings);
    // Demand 1 → target 2; supply 6 → 4 above it, all ready: 4 go, whatever their idle time.
    expect(start.state.target).toBe(2);
    expect(start.plan).toEqual({ create: 0, drain: 4, drainIdleForMs: 0 });
    // Same supply but 3 tasks queued (not yet dispatched): only 5 − 3 = 2 ready machines are spare.
    const queued = leakyBucketStep(undefined, pool(), load({ leased: 1, ready: 5, queued: 3 }), 0, { ...settings, overprovision: 0 });
    expect(queued.state.target).toBe(4);
    expect(queued.plan).toEqual({ create: 0, drain: 2, drainIdleForMs: 0 });
  });

  it('keeps a state per pool and scales its interval by the time scale', () => {
    const evaluations: string[] = [];
    const policy = leakyBucketPolicy({ intervalS: 300, timeScale: 100, onEvaluate: (p, demand, target) => evaluations.push(`${p}:${demand}:${target}`) });
    const at = (ms: number) => new Date(1_000_000 + ms);
    expect(policy.plan(pool({ name: 'a' }), load({ queued: 10 }), at(0)).create).toBe(12);
    expect(policy.plan(pool({ name: 'b' }), load({ queued: 1 }), at(0)).create).toBe(2);
    // 300 s / 100 = 3 s of wall time.
    expect(policy.plan(pool({ name: 'a' }), load({ queued: 10 }), at(2_999)).create).toBe(0);
    expect(policy.plan(pool({ name: 'a' }), load({ queued: 10, leased: 0 }), at(3_000)).create).toBe(12);
    expect(evaluations).toEqual(['a:10:12', 'b:1:2', 'a:10:12']);
  });
});

describe('the default (demand) policy', () => {
  it('creates up to queued + leased + min_ready and drains only spare machines idle past idle_timeout_s (scaled)', () => {
    expect(demandPlan(pool(), load({ queued: 7, leased: 2, coming: 3 }))).toEqual({ create: 5, drain: 0, drainIdleForMs: 300_000 });
    expect(demandPlan(pool({ maxSize: 5 }), load({ queued: 7, leased: 2 }))).toEqual({ create: 3, drain: 0, drainIdleForMs: 300_000 });
    expect(demandPlan(pool(), load({ leased: 2, ready: 4 }), 60)).toEqual({ create: 0, drain: 3, drainIdleForMs: 5_000 });
  });

  it('gives the baselines: on-demand drains spare machines at once, keep-alive after 10 minutes, whatever idle_timeout_s says', () => {
    const idle = load({ leased: 2, ready: 4 });
    const at = (ms: number) => new Date(ms);
    expect(onDemandPolicy().plan(pool(), idle, at(0))).toEqual({ create: 0, drain: 3, drainIdleForMs: 0 });
    expect(keepAlivePolicy().plan(pool(), idle, at(0))).toEqual({ create: 0, drain: 3, drainIdleForMs: 600_000 });
    expect(keepAlivePolicy({ timeScale: 60 }).plan(pool(), idle, at(0)).drainIdleForMs).toBe(10_000);
    expect([onDemandPolicy().name, keepAlivePolicy().name, demandPolicy().name]).toEqual(['on-demand', 'keep-alive', 'demand']);
    expect(() => demandPolicy({ keepAliveS: -1 })).toThrow(/keepAliveS must be 0 or more/);
  });
});
