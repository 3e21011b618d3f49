// A connection that dies while a transaction holds it (PostgreSQL restarted, the backend
// terminated) must fail that transaction, not crash the process through an unhandled 'error'
// event on the checked-out client; the pool then serves fresh connections. Found by the chaos
// harness: both daemons exited on a PostgreSQL restart. And a connection lost at BEGIN must go
// back to the pool (drizzle's own transaction() leaks it; chaos saw pools run dry). And a
// connection whose peer vanished without a word is found out by TCP keepalive, both ways.
import net from 'node:net';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { KEEPALIVE, openDatabase, withTransaction } from '../../src/db/index.js';
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

  it('returns a client whose connection died at BEGIN to the pool, so the pool never runs dry', async () => {
    // drizzle 0.45 sends BEGIN outside its try/finally: every such loss used to leak a pool slot,
    // and chaos saw daemons stop working after ~17 PostgreSQL restarts (pool of 12).
    const database = openDatabase({ url: t.url, max: 2, connectTimeoutMs: 2000, applicationName: 'sandfleet-test-begin-loss' });
    let armed = false;
    database.pool.on('acquire', (client) => {
      // The connection drops between checkout and BEGIN, as when the server restarts.
      if (armed) (client as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    });
    try {
      armed = true;
      for (let i = 0; i < 5; i++) await expect(withTransaction(database.db, (tx) => tx.execute(sql`SELECT 1`))).rejects.toThrow();
      armed = false;
      expect(await withTransaction(database.db, async (tx) => Number((await tx.execute(sql`SELECT 41 + 1 AS n`)).rows[0]!.n))).toBe(42);
      expect(database.pool.totalCount).toBeLessThanOrEqual(1);
    } finally {
      // A leaked client also keeps pool.end() waiting forever, which would hold a daemon past SIGTERM.
      const closed = await Promise.race([database.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000).unref())]);
      expect(closed).toBe('closed');
    }
  });
});

describe('TCP keepalive', () => {
  it('is on for every connection of the pool, on our side and the server\'s', async () => {
    const setKeepAlive = vi.spyOn(net.Socket.prototype, 'setKeepAlive');
    const database = openDatabase({ url: t.url, max: 2, applicationName: 'sandfleet-test-keepalive' });
    try {
      const clients = await Promise.all([database.pool.connect(), database.pool.connect()]);
      try {
        for (const client of clients) {
          const stream = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
          const calls = setKeepAlive.mock.calls.filter((_, i) => setKeepAlive.mock.contexts[i] === stream);
          expect(calls).toEqual([[true, KEEPALIVE.idleMs]]);
          const server = await client.query<{ idle: string; interval: string; count: string }>(
            `SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS interval, current_setting('tcp_keepalives_count') AS count`,
          );
          // Over a Unix socket (a DATABASE_URL without a host) the server reports 0 and keepalive does not apply.
          if (new URL(t.url).hostname) {
            expect(server.rows[0]).toEqual({ idle: String(KEEPALIVE.serverIdleS), interval: String(KEEPALIVE.serverIntervalS), count: String(KEEPALIVE.serverCount) });
          }
        }
      } finally {
        for (const client of clients) client.release();
      }
    } finally {
      setKeepAlive.mockRestore();
      await database.close();
    }
  });
});
