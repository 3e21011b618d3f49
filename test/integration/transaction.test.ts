import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { backoffDelayMs, sqlState, TransactionRetriesExhaustedError, withTransaction } from '../../src/db/index.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('tx');
beforeAll(async () => {
  await t.db.execute(sql`CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)`);
  await t.db.execute(sql`INSERT INTO counters VALUES (1, 0), (2, 0)`);
});

/** Resolves once `parties` callers have arrived: both transactions hold their first lock. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived === parties) open();
    await opened;
  };
}

describe('withTransaction', () => {
  it('retries the loser of a real deadlock, and both transactions land', async () => {
    const bothHoldFirstLock = barrier(2);
    let attempts = 0;
    const lockBoth = (first: number, second: number) =>
      withTransaction(t.db, async (tx) => {
        const attempt = ++attempts;
        await tx.execute(sql`UPDATE counters SET n = n + 1 WHERE id = ${first}`);
        if (attempt <= 2) await bothHoldFirstLock();
        await tx.execute(sql`UPDATE counters SET n = n + 1 WHERE id = ${second}`);
      });
    await Promise.all([lockBoth(1, 2), lockBoth(2, 1)]);
    expect(attempts).toBe(3);
    const rows = await t.db.execute(sql`SELECT n FROM counters ORDER BY id`);
    expect(rows.rows.map((r) => r.n)).toEqual([2, 2]);
  });

  it('gives up after maxAttempts on repeated serialization failures', async () => {
    let attempts = 0;
    const failing = withTransaction(
      t.db,
      () => {
        attempts++;
        return Promise.reject(Object.assign(new Error('could not serialize access'), { code: '40001' }));
      },
      { maxAttempts: 3, baseDelayMs: 1 },
    );
    await expect(failing).rejects.toBeInstanceOf(TransactionRetriesExhaustedError);
    expect(attempts).toBe(3);
  });

  it('does not retry other errors and rolls back what the attempt wrote', async () => {
    let attempts = 0;
    const failing = withTransaction(t.db, async (tx) => {
      attempts++;
      await tx.execute(sql`UPDATE counters SET n = 100 WHERE id = 1`);
      await tx.execute(sql`INSERT INTO counters VALUES (2, 0)`);
    });
    await expect(failing).rejects.toSatisfy((e: unknown) => sqlState(e) === '23505');
    expect(attempts).toBe(1);
    const row = await t.db.execute(sql`SELECT n FROM counters WHERE id = 1`);
    expect(row.rows[0]?.n).toBe(2);
  });

  it('cancels a statement past the statement timeout', async () => {
    const { openDatabase } = await import('../../src/db/index.js');
    const short = openDatabase({ url: t.url, max: 1, statementTimeoutMs: 50 });
    try {
      await expect(short.db.execute(sql`SELECT pg_sleep(2)`)).rejects.toSatisfy((e: unknown) => sqlState(e) === '57014');
    } finally {
      await short.close();
    }
  });
});

describe('backoffDelayMs', () => {
  it('grows with the attempt and never passes the ceiling', () => {
    expect(backoffDelayMs(1, 10, 1000, () => 0.999)).toBe(9);
    expect(backoffDelayMs(4, 10, 1000, () => 0.999)).toBe(79);
    expect(backoffDelayMs(20, 10, 1000, () => 0.999)).toBe(999);
    expect(backoffDelayMs(3, 10, 1000, () => 0)).toBe(0);
  });
});
