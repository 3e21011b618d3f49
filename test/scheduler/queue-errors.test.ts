// BullMQ's queues and workers report their own trouble (a lost connection) as 'error' events.
// Unheard, BullMQ prints the raw error object to stderr; the scheduler routes it to its log
// instead, naming the queue, and keeps working once the connection is back.
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getTask } from '../../src/machinery/index.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { PrivateRedis } from '../support/private-redis.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';

const t = useTestDatabase('queue_errors', 24, { queue: true });
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };
const running: Scheduler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close({ graceMs: 2000 })));
  vi.restoreAllMocks();
});

function logged() {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { info: () => {}, error: () => {}, warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }) };
  return { log, queueErrors: () => warnings.filter((w) => w.message.startsWith('queue error')) };
}

describe('queue errors', () => {
  it('logs a lost Redis as a queue warning, not on stderr, and works on after Redis returns', async () => {
    const stderr = vi.spyOn(console, 'error');
    const redis = await PrivateRedis.start();
    try {
      const { log, queueErrors } = logged();
      const s = testScheduler(t, { kind: 'redis', url: redis.url }, { log });
      running.push(s);
      s.start();
      s.startSupervising();
      const pool = (await addPool(t.db, { maxSize: 2, settings: fast })).name;
      await redis.stop();
      await until(() => Promise.resolve(queueErrors().length > 0), 30_000);
      expect(String(queueErrors()[0]!.fields.queue)).toMatch(/sandfleet-(tasks|runs|machines)$/);
      expect(queueErrors()[0]!.fields.err).toEqual(expect.any(String));
      expect(stderr).not.toHaveBeenCalled();
      await redis.restart();
      const { task } = await submit(t.db, s.deps.queues.runs, { pool, payload: { sim: { durationMs: 10 } } });
      await until(async () => (await getTask(t.db, task.id))?.state === 'completed', 60_000);
    } finally {
      await redis.stop();
    }
  });

  it('logs PostgreSQL connections lost under the queue as queue warnings, not on stderr', async () => {
    const stderr = vi.spyOn(console, 'error');
    const { log, queueErrors } = logged();
    const s = testScheduler(t, { kind: 'postgres' }, { log });
    running.push(s);
    s.start();
    s.startSupervising();
    const pool = (await addPool(t.db, { maxSize: 2, settings: fast })).name;
    await until(async () => {
      await t.db.execute(sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
      return queueErrors().length > 0;
    }, 30_000);
    expect(stderr).not.toHaveBeenCalled();
    const { task } = await submit(t.db, s.deps.queues.runs, { pool, payload: { sim: { durationMs: 10 } } });
    await until(async () => (await getTask(t.db, task.id))?.state === 'completed', 60_000);
  });
});
