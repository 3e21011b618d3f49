// A connection that dies while a transaction holds it (PostgreSQL restarted, the backend
// terminated) must fail that transaction, not crash the process through an unhandled 'error'
// event on the checked-out client; the pool then serves fresh connections. Found by the chaos
// harness: both daemons exited on a PostgreSQL restart.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { withTransaction } from '../../src/db/index.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('connection_loss', 4);

describe('losing a connection mid-transaction', () => {
  it('fails the transaction, keeps the process, and the pool recovers', async () => {
    const crashes: unknown[] = [];
    const onUncaught = (error: unknown) => crashes.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      for (let round = 0; round < 5; round++) {
        let pid = 0;
        let resume: () => void = () => {};
        const paused = new Promise<void>((r) => (resume = r));
        let signalHeld: () => void = () => {};
        const held = new Promise<void>((r) => (signalHeld = r));
        const transaction = withTransaction(t.db, async (tx) => {
          pid = Number((await tx.execute(sql`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid);
          signalHeld();
          // The client is checked out and idle between statements while the server drops it.
          await paused;
          await tx.execute(sql`SELECT 1`);
        });
        const outcome = transaction.then(() => 'committed', (error: unknown) => (error instanceof Error ? error.message : String(error)));
        await held;
        await t.pool.query('SELECT pg_terminate_backend($1)', [pid]);
        // Give the dead socket's events time to arrive before the transaction continues.
        for (let i = 0; i < 50 && crashes.length === 0; i++) await new Promise((r) => setImmediate(r));
        await new Promise((r) => setTimeout(r, 100));
        resume();
        expect(await outcome).not.toBe('committed');
      }
      expect(crashes).toEqual([]);
      expect(Number((await t.db.execute(sql`SELECT 41 + 1 AS n`)).rows[0]!.n)).toBe(42);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
