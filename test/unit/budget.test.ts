// The modelled cloud budget (src/providers/budget.ts) on a hand-driven clock, and the batcher's
// window (src/providers/batcher.ts): calls within the window share one batched call.
import { describe, expect, it } from 'vitest';
import { Batcher, type BatchResult } from '../../src/providers/batcher.js';
import { Budget } from '../../src/providers/budget.js';

describe('Budget', () => {
  it('spends a burst, refuses with the wait until a token returns, and refills at its rate', () => {
    let now = 0;
    const budget = new Budget<'run'>({ run: { burst: 5, perSecond: 2 } }, () => now);
    for (let i = 0; i < 5; i++) expect(budget.spend([['run', 1]]).ok).toBe(true);
    const refused = budget.spend([['run', 1]]);
    expect(refused).toMatchObject({ ok: false, retryAfterMs: 500, bucket: 'run' });
    now += 500;
    expect(budget.spend([['run', 1]]).ok).toBe(true);
    expect(budget.spend([['run', 1]]).ok).toBe(false);
    expect(budget.refusals).toBe(2);
  });

  it('charges several buckets all or nothing: a refused call gives back what it took', () => {
    const now = 0;
    const budget = new Budget<'calls' | 'instances'>({ calls: { burst: 3, perSecond: 1 }, instances: { burst: 10, perSecond: 1 } }, () => now);
    expect(budget.spend([['calls', 1], ['instances', 8]]).ok).toBe(true);
    expect(budget.spend([['calls', 1], ['instances', 5]])).toMatchObject({ ok: false, bucket: 'instances' });
    // The refused call's `calls` token came back: two more calls still fit.
    expect(budget.spend([['calls', 1], ['instances', 1]]).ok).toBe(true);
    expect(budget.spend([['calls', 1], ['instances', 1]]).ok).toBe(true);
    expect(budget.spend([['calls', 1]])).toMatchObject({ ok: false, bucket: 'calls' });
    expect(budget.refused.get('instances')).toBe(1);
  });

  it('leaves a name with no bucket unmetered', () => {
    const budget = new Budget<'run' | 'read'>({ run: { burst: 1, perSecond: 1 } }, () => 0);
    for (let i = 0; i < 100; i++) expect(budget.spend([['read', 1]]).ok).toBe(true);
  });

  it('squeezes and restores a bucket while it runs', () => {
    let now = 0;
    const budget = new Budget<'run'>({ run: { burst: 10, perSecond: 10 } }, () => now);
    budget.resize({ run: { burst: 2, perSecond: 1 } });
    expect(budget.spend([['run', 2]]).ok).toBe(true);
    now += 1000;
    expect(budget.spend([['run', 2]])).toMatchObject({ ok: false, retryAfterMs: 1000 });
    budget.resize({ run: { burst: 10, perSecond: 10 } });
    now += 1000;
    expect(budget.spend([['run', 10]]).ok).toBe(true);
  });

  it('refuses a limit that could never grant a call', () => {
    expect(() => new Budget<'run'>({ run: { burst: 0, perSecond: 1 } })).toThrow(/budget run needs burst >= 1/);
    expect(() => new Budget<'run'>({ run: { burst: 1, perSecond: 0 } })).toThrow(/perSecond > 0/);
  });
});

describe('Batcher', () => {
  const echo = (batches: string[][]) => (keys: string[]) => {
    batches.push(keys);
    return Promise.resolve(new Map<string, BatchResult<string>>(keys.map((k) => [k, k === 'bad' ? { ok: false, error: new Error(`no ${k}`) } : { ok: true, value: k.toUpperCase() }])));
  };

  it('joins calls made within the window into one batch, each with its own answer', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher(echo(batches), { maxBatch: 10, windowMs: 30 });
    const first = batcher.call('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const rest = [batcher.call('b'), batcher.call('a'), batcher.call('bad')];
    await expect(first).resolves.toBe('A');
    await expect(rest[0]).resolves.toBe('B');
    await expect(rest[1]).resolves.toBe('A');
    await expect(rest[2]).rejects.toThrow('no bad');
    expect(batches).toEqual([['a', 'b', 'bad']]);
  });

  it('sends a full batch at once and the rest after the window', async () => {
    const batches: string[][] = [];
    const batcher = new Batcher(echo(batches), { maxBatch: 3, windowMs: 20 });
    const calls = ['a', 'b', 'c', 'd'].map((k) => batcher.call(k));
    expect(batches).toEqual([['a', 'b', 'c']]);
    await Promise.all(calls);
    expect(batches).toEqual([['a', 'b', 'c'], ['d']]);
  });
});
