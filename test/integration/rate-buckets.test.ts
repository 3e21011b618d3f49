// The rate limit per provider account is a token bucket in one row: parallel takers on separate
// connections never get more tokens than the burst plus the refill over the time they ran.
import { describe, expect, it } from 'vitest';
import { takeToken } from '../../src/machinery/index.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('rate_buckets', 12);

describe('takeToken', () => {

  it('grants at most burst + rate × elapsed across 8 parallel clients', async () => {
    const limit = { perSecond: 5, burst: 3 };
    const started = Date.now();
    let granted = 0;
    let denied = 0;
    let retryHints = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 60; i++) {
          const grant = await takeToken(t.db, 'acct-a', limit);
          if (grant.granted) granted++;
          else {
            denied++;
            if (grant.retryInMs > 0 && grant.retryInMs <= 1000 / limit.perSecond + 1) retryHints++;
          }
        }
      }),
    );
    const elapsedS = (Date.now() - started) / 1000;
    expect(granted).toBeLessThanOrEqual(limit.burst + Math.ceil(limit.perSecond * elapsedS));
    expect(granted).toBeGreaterThanOrEqual(limit.burst);
    expect(denied).toBeGreaterThan(0);
    expect(retryHints).toBe(denied);
  });

  it('keeps accounts apart', async () => {
    const limit = { perSecond: 0.001, burst: 2 };
    const take = (account: string) => takeToken(t.db, account, limit);
    expect([(await take('x')).granted, (await take('x')).granted, (await take('x')).granted]).toEqual([true, true, false]);
    expect((await take('y')).granted).toBe(true);
  });

  it('refuses a limit that could never grant', async () => {
    await expect(takeToken(t.db, 'z', { perSecond: 0, burst: 1 })).rejects.toThrow(RangeError);
  });
});
