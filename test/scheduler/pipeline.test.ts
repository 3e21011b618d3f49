// The task pipeline in one process, on both queue backends, with the sim provider: submitted
// tasks are dispatched to ready machines, run, and end; machines are reimaged or deleted.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTask, checkInvariants, getTask } from '../../src/machinery/index.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { addPool } from '../support/fixtures.js';

const t = useTestDatabase('pipeline', 24, { queue: true });


async function states(pool: string): Promise<Record<string, number>> {
  const r = await t.db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ${pool} GROUP BY state`);
  return Object.fromEntries(r.rows.map((x) => [String(x.state), Number(x.n)]));
}

describe.each(QUEUE_BACKENDS)('task pipeline on %s', (_, backend) => {
  let scheduler: Scheduler;
  beforeAll(() => {
    scheduler = testScheduler(t, backend());
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
  });

  it('runs 60 tasks on 4 reimaged machines to the end, every one completed or failed as its runner said', async () => {
    const pool = (await addPool(t.db, { maxSize: 4, recycle: 'reimage', settings: { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 } })).name;
    const ids = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => (await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { sim: { failRate: i % 10 === 0 ? 1 : 0 } } })).task.id),
    );
    expect(await scheduler.provision(pool, 10)).toBe(4);
    await until(async () => {
      const s = await states(pool);
      return (s.completed ?? 0) + (s.failed ?? 0) === 60;
    });
    expect(await states(pool)).toEqual({ completed: 54, failed: 6 });
    const uses = await t.db.execute(sql`SELECT sum(uses)::int AS n FROM machines WHERE pool = ${pool}`);
    expect(Number(uses.rows[0]?.n)).toBe(60);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
    expect(ids).toHaveLength(60);
  });

  it('deletes each machine after one use when max_uses is 1, and a cancel reaches a running task', async () => {
    const pool = (await addPool(t.db, { maxSize: 2, maxUses: 1, recycle: 'delete', settings: { bootDelayMs: 10, stopDelayMs: 5, terminateDelayMs: 5 } })).name;
    const long = (await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { sim: { durationMs: 60_000 } }, priority: 90 })).task.id;
    const short = (await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { sim: { durationMs: 5 } } })).task.id;
    await scheduler.provision(pool, 2);
    await until(async () => (await getTask(t.db, long))?.state === 'running' && (await getTask(t.db, short))?.state === 'completed');
    expect((await cancelTask(t.db, long, { actor: 'operator' })).kind).toBe('ended');
    // The runner notices its lease ended, and the machine goes down the normal teardown.
    await until(async () => Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)).rows[0]?.n) === 0);
    expect((await getTask(t.db, long))?.state).toBe('canceled');
    const deleted = await t.db.execute(sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE pool = ${pool} AND to_state = 'deleted'`);
    expect(Number(deleted.rows[0]?.n)).toBe(2);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });
});
