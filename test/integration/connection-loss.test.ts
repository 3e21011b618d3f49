// A connection that dies while a transaction holds it (PostgreSQL restarted, the backend
// terminated) must fail that transaction, not crash the process through an unhandled 'error'
// event on the checked-out client; the pool then serves fresh connections. Found by the chaos
// harness: both daemons exited on a PostgreSQL restart.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openDatabase, withTransaction } from '../../src/db/index.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('connection_loss', 4);

describe('losing a connection mid-transaction', () => {
  it('fails the transaction, keeps the process, and the pool recovers', async () => {
    const crashes: unknown[] = [];
    let crashed: () => void = () => {};
    const firstCrash = new Promise<void>((r) => (crashed = r));
    const onUncaught = (error: unknown) => {
      crashes.push(error);
      crashed();
    };
    process.on('uncaughtException', onUncaught);
    // One connection, so the client the transaction holds is the one whose end the test awaits.
    const database = openDatabase({ url: t.url, max: 1, applicationName: 'sandfleet-test-connection-loss' });
    let ended: Promise<void> = Promise.resolve();
    database.pool.on('connect', (client) => {
      ended = new Promise((resolve) => client.once('end', () => resolve()));
    });
    try {
      for (let round = 0; round < 5; round++) {
        let pid = 0;
        let resume: () => void = () => {};
        const paused = new Promise<void>((r) => (resume = r));
        let signalHeld: () => void = () => {};
        const held = new Promise<void>((r) => (signalHeld = r));
        const transaction = withTransaction(database.db, async (tx) => {
          pid = Number((await tx.execute(sql`SELECT pg_backend_pid() AS pid`)).rows[0]!.pid);
          signalHeld();
          // The client is checked out and idle between statements while the server drops it.
          await paused;
          await tx.execute(sql`SELECT 1`);
        });
        const outcome = transaction.then(() => 'committed', (error: unknown) => (error instanceof Error ? error.message : String(error)));
        await held;
        await t.pool.query('SELECT pg_terminate_backend($1)', [pid]);
        // The dead socket's 'error' and 'end' reach the checked-out client before it goes on
        // (or the unheard 'error' crashed out, which the check after the rounds reports).
        await Promise.race([ended, firstCrash]);
        resume();
        expect(await outcome).not.toBe('committed');
      }
      expect(crashes).toEqual([]);
      expect(Number((await database.db.execute(sql`SELECT 41 + 1 AS n`)).rows[0]!.n)).toBe(42);
    } finally {
      process.off('uncaughtException', onUncaught);
      await database.close();
    }
  });
});
