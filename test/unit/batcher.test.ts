// The batcher coalesces single calls into batched cloud calls: within a window, and (serial)
// everything that arrives while a batch is in flight goes together as the next one.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Batcher, type BatchResult } from '../../src/providers/batcher.js';

/** A batched call that records each batch and answers when released. */
function recorder() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const run = (keys: number[]) =>
    new Promise<Map<number, BatchResult<number>>>((resolve) => {
      batches.push(keys);
      releases.push(() => resolve(new Map(keys.map((k) => [k, { ok: true, value: k * 10 }]))));
    });
  return { batches, releases, run };
}

// Windows pass on a fake clock: each tick is one window (and more) gone by, with no real waiting.
const tick = () => vi.advanceTimersByTimeAsync(5);

describe('Batcher', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('answers each call from its batch, calls of one window in one batch', async () => {
    const r = recorder();
    const batcher = new Batcher(r.run, { maxBatch: 10, windowMs: 1 });
    const answers = Promise.all([1, 2, 3].map((k) => batcher.call(k)));
    await tick();
    r.releases.forEach((release) => release());
    expect(await answers).toEqual([10, 20, 30]);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  it('serial: what arrives while a batch is in flight waits and goes as one batch', async () => {
    const r = recorder();
    const batcher = new Batcher(r.run, { maxBatch: 10, windowMs: 1, serial: true });
    const first = batcher.call(1);
    await tick();
    // Three windows pass while the first batch is in flight: without `serial` each would be a batch.
    const later = [batcher.call(2)];
    await tick();
    later.push(batcher.call(3));
    await tick();
    later.push(batcher.call(4));
    await tick();
    expect(r.batches).toEqual([[1]]);
    r.releases[0]!();
    expect(await first).toBe(10);
    await tick();
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
    r.releases[1]!();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
  });

  it('a key asked for again before it is sent shares the first call\'s place and answer', async () => {
    const r = recorder();
    const batcher = new Batcher(r.run, { maxBatch: 2, windowMs: 1, serial: true });
    const first = batcher.call(1);
    await tick();
    // While 1 is in flight, 2 is asked for three times (a caller gave up and retried) and 3 once.
    const later = [batcher.call(2), batcher.call(2), batcher.call(3), batcher.call(2)];
    await tick();
    r.releases[0]!();
    expect(await first).toBe(10);
    await tick();
    // Two distinct keys fill the batch of two: the repeats of 2 take no room of their own.
    expect(r.batches).toEqual([[1], [2, 3]]);
    r.releases[1]!();
    expect(await Promise.all(later)).toEqual([20, 20, 30, 20]);
    // Once sent, a key asked for again goes in a batch of its own.
    const again = batcher.call(1);
    await tick();
    r.releases[2]!();
    expect(await again).toBe(10);
    expect(r.batches).toEqual([[1], [2, 3], [1]]);
  });
});
