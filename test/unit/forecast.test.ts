// The forecasting policy: warm machines from the demand rises it has seen within a boot time, per
// context of recent activity; nothing warm beyond min_ready before it has seen any.
import { describe, expect, it } from 'vitest';
import type { PoolRow } from '../../src/db/schema.js';
import { BootWatch, forecastPolicy } from '../../src/scheduler/policies/forecast.js';
import type { PoolLoad } from '../../src/scheduler/policies/policy.js';
import { poolRow } from '../support/fixtures.js';

const pool = (overrides: Partial<PoolRow> = {}): PoolRow => poolRow(overrides);
const load = (l: Partial<PoolLoad>): PoolLoad => ({ queued: 0, leased: 0, ready: 0, coming: 0, recycling: 0, retiring: 0, ...l });
const at = (s: number) => new Date(s * 1000);

describe('forecast policy', () => {
  it('keeps nothing warm beyond min_ready before it has seen the pool rise, and creates for queued work', () => {
    const policy = forecastPolicy({ bootS: 10 });
    expect(policy.plan(pool(), load({ queued: 2 }), at(0))).toEqual({ create: 2, drain: 0, drainIdleForMs: 20_000, keep: 2 });
    // It keeps the 2 it wanted a second ago for the drain grace.
    expect(policy.plan(pool({ minReady: 1 }), load({ ready: 3 }), at(1))).toEqual({ create: 0, drain: 2, drainIdleForMs: 20_000, keep: 2 });
  });

  it('keeps warm the rise it saw within a boot time in most moments like this one', () => {
    const policy = forecastPolicy({ bootS: 10, cover: 0.9 });
    // Every 20 s, demand jumps from 1 to 4 for 5 s: a boot-length window starting at 1 sees a rise of 3.
    let t = 0;
    for (let cycle = 0; cycle < 30; cycle++) {
      for (let s = 0; s < 20; s++, t++) policy.plan(pool(), load({ leased: s < 15 ? 1 : 4 }), at(t));
    }
    // In that context (a recent peak of 4), with one task running, three more are kept warm.
    expect(policy.plan(pool(), load({ leased: 1 }), at(t)).create).toBe(3);
    // Idle machines beyond 1 + 3 go once idle past the grace; machines back from a task stay while
    // the pool wanted them within it (4 + 3 when demand was 4, five seconds ago).
    expect(policy.plan(pool(), load({ leased: 1, ready: 6 }), at(t + 1))).toEqual({ create: 0, drain: 3, drainIdleForMs: 20_000, keep: 7 });
    // A lower cover keeps fewer warm: the rise is 0 in three windows of four.
    const frugal = forecastPolicy({ bootS: 10, cover: 0.5 });
    t = 0;
    for (let cycle = 0; cycle < 30; cycle++) for (let s = 0; s < 20; s++, t++) frugal.plan(pool(), load({ leased: s < 15 ? 1 : 4 }), at(t));
    expect(frugal.plan(pool(), load({ leased: 1 }), at(t)).create).toBe(0);
  });

  it('tells the lifecycle how many machines to keep (the busy ones and the warm ones), unless retireSurplus is off', () => {
    expect(forecastPolicy({ bootS: 10 }).plan(pool({ minReady: 2 }), load({ leased: 3 }), at(0)).keep).toBe(5);
    expect(forecastPolicy({ bootS: 10, retireSurplus: false }).plan(pool({ minReady: 2 }), load({ leased: 3 }), at(0)).keep).toBeUndefined();
  });

  it('keeps the most the pool wanted within the drain grace, so a machine back from a task goes only once unwanted that long', () => {
    // A boot time longer than the test: no rise is learned, so the pool wants just its busy machines.
    const policy = forecastPolicy({ bootS: 1000, drainGraceS: 20 });
    expect(policy.plan(pool(), load({ leased: 3 }), at(0)).keep).toBe(3);
    // The tasks end: the pool wants none, but keeps the three for the grace…
    expect(policy.plan(pool(), load({ coming: 3, recycling: 3 }), at(1)).keep).toBe(3);
    expect(policy.plan(pool(), load({ leased: 1, coming: 2, recycling: 2 }), at(19)).keep).toBe(3);
    // …then only what it wanted since (the one task at 19 s).
    expect(policy.plan(pool(), load({ ready: 3 }), at(20)).keep).toBe(1);
    expect(policy.plan(pool(), load({ ready: 3 }), at(40)).keep).toBe(0);
    // A shorter idle_timeout_s shortens the grace.
    const quick = forecastPolicy({ bootS: 1000 });
    quick.plan(pool({ idleTimeoutS: 5 }), load({ leased: 2 }), at(0));
    expect(quick.plan(pool({ idleTimeoutS: 5 }), load({ ready: 2 }), at(5)).keep).toBe(0);
  });

  it('learns the boot time from the boots the pool shows, and warms as far ahead as a boot takes', () => {
    // Every 100 s demand is 0 for 70 s, then 4 for 30 s; each cycle a machine boots for 50 s.
    const cycle = (policy: ReturnType<typeof forecastPolicy>, cycles: number, booting: boolean) => {
      let t = 0;
      for (let c = 0; c < cycles; c++) {
        for (let s = 0; s < 100; s++, t++) policy.plan(pool(), load({ leased: s < 70 ? 0 : 4, bootingForS: booting && s < 50 ? s : null }), at(t));
      }
      return policy.plan(pool(), load({ bootingForS: null }), at(t));
    };
    // With a 5 s boot, a rise comes within a boot in 5 % of moments: 0.9 of them need no warm machine.
    expect(cycle(forecastPolicy({ bootPriorS: 5, cover: 0.9 }), 30, false).create).toBe(0);
    // Having seen 50 s boots, half the moments see the rise of 4 coming within a boot.
    expect(cycle(forecastPolicy({ bootPriorS: 5, cover: 0.9 }), 30, true).create).toBe(4);
    // A boot time given in the settings is kept, whatever the pool shows.
    expect(cycle(forecastPolicy({ bootS: 5, cover: 0.9 }), 30, true).create).toBe(0);
  });

  it('counts a boot when the age of the oldest booting machine falls behind the clock, but not across a gap in the ticks', () => {
    const watch = new BootWatch();
    expect(watch.estimate(60)).toBe(60);
    // A machine boots from t=0; at t=31 none is booting any more: a boot of at most 31 s.
    for (let t = 0; t <= 30; t++) watch.observe(t, t);
    watch.observe(31, null);
    expect(watch.estimate(60)).toBe(31);
    // Another boots from t=100 and the next starts at t=110; the first finishes by t=125.
    for (let t = 100; t <= 124; t++) watch.observe(t, t - 100);
    watch.observe(125, 15);
    expect(watch.estimate(60)).toBe(31);
    // The lease was elsewhere from t=130 to t=1000: the fall seen then is not a boot of 890 s.
    watch.observe(130, 20);
    watch.observe(1000, null);
    expect(watch.estimate(60)).toBe(31);
  });

  it('lets machines beyond the warm ones go after the grace, or after idle_timeout_s when that is shorter', () => {
    expect(forecastPolicy({ bootS: 10 }).plan(pool({ idleTimeoutS: 5 }), load({ ready: 2 }), at(0))).toEqual({ create: 0, drain: 2, drainIdleForMs: 5000, keep: 0 });
    expect(forecastPolicy({ bootS: 10 }).plan(pool({ idleTimeoutS: 600 }), load({ ready: 2 }), at(0)).drainIdleForMs).toBe(20_000);
  });

  it('keeps each pool apart, never asks past max_size, and refuses a cover outside (0, 1)', () => {
    const policy = forecastPolicy({ bootS: 5 });
    for (let t = 0; t < 200; t++) policy.plan(pool({ name: 'busy' }), load({ leased: t % 10 < 5 ? 0 : 8 }), at(t));
    expect(policy.plan(pool({ name: 'busy', maxSize: 5 }), load({}), at(200)).create).toBeLessThanOrEqual(5);
    expect(policy.plan(pool({ name: 'quiet' }), load({}), at(200)).create).toBe(0);
    expect(() => forecastPolicy({ bootS: 5, cover: 1 })).toThrow(/cover must be between 0 and 1/);
    expect(() => forecastPolicy({ bootS: 0 })).toThrow(/bootS must be positive/);
  });
});
