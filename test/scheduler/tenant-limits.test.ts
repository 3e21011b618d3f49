// A tenant's max_running in a running scheduler: its tasks run one at a time, and when one ends
// the next leases on the leader's tick, beside the machine that waited ready for it, without
// waiting for the reconciler's sweep.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, upsertTenant } from '../../src/machinery/index.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';

const t = useTestDatabase('tenantlimits', 16, { queue: true });
let scheduler: Scheduler;

beforeAll(() => {
  // No sweep in this test's time: only the leader's tick can lease the waiting task.
  scheduler = testScheduler(t, { kind: 'postgres' }, { reconcileEveryMs: 600_000 });
  scheduler.start();
  scheduler.startSupervising();
});
afterAll(async () => {
  await scheduler?.close({ graceMs: 1000 });
});

describe('max_running in a running scheduler', () => {
  it('holds a capped tenant\'s second task beside a ready machine of another pool, and leases it on the tick after the first ends', async () => {
    await upsertTenant(t.db, { name: 'one-at-a-time', weight: 1, maxQueued: null, maxRunning: 1 });
    const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };
    const first = (await addPool(t.db, { maxSize: 1, settings: fast })).name;
    const second = (await addPool(t.db, { maxSize: 1, minReady: 1, settings: fast })).name;
    const tenant = { name: 'one-at-a-time', maxQueued: null };
    const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${second} AND state = 'ready'`)) === 1);
    const a = (await submit(t.db, scheduler.deps.queues.runs, { pool: first, payload: { sim: { durationMs: 500 } } }, { tenant })).task;
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE id = ${a.id} AND state IN ('assigned', 'running')`)) === 1);
    // Its tenant is at its limit: the task waits although a machine of its pool is ready.
    const b = (await submit(t.db, scheduler.deps.queues.runs, { pool: second, payload: {} }, { tenant })).task;
    expect(b.state).toBe('queued');
    const explain = async () => (await t.db.execute(sql`SELECT pool, state, count(*)::int FROM tasks WHERE tenant = 'one-at-a-time' GROUP BY 1, 2`)).rows;
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE id IN (${a.id}, ${b.id}) AND state = 'completed'`)) === 2, 30_000, explain);
    const spans = (await t.db.execute(sql`SELECT assigned_at, finished_at FROM tasks WHERE id IN (${a.id}, ${b.id}) ORDER BY assigned_at`)).rows as { assigned_at: Date; finished_at: Date }[];
    // Never both at once: the second lease began after the first ended.
    expect(new Date(spans[1]!.assigned_at).getTime()).toBeGreaterThanOrEqual(new Date(spans[0]!.finished_at).getTime());
    for (const pool of [first, second]) expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });
});
