// One pool's cloud stops answering every call. Another pool of the same daemon keeps scaling,
// completing its tasks and ending overdue ones (its supervision and deadline watchdog do not
// wait on the hung pool's), while the hung pool's calls end at their deadline and are retried.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, getTask } from '../../src/machinery/index.js';
import type { CloudCall } from '../../src/scheduler/instrumented-provider.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';

const t = useTestDatabase('hungpool', 24, { queue: true });
/** Long beside the healthy pool's work: what it gets done before the first timeout it did without waiting on the hung pool. */
const TIMEOUT_MS = 10_000;
const MACHINE_SLOTS = 4;
const HUNG_MACHINES = 4;
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };

const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);

describe.each(QUEUE_BACKENDS)('a hung pool on %s', (_, backend) => {
  let scheduler: Scheduler;
  const calls: CloudCall[] = [];
  let firstTimeoutAt: Date | undefined;
  let firstCreateTimeoutAt: Date | undefined;
  let hung = '';
  beforeAll(() => {
    scheduler = testScheduler(t, backend(), {
      cloudCallTimeoutMs: TIMEOUT_MS,
      machineConcurrency: MACHINE_SLOTS,
      deadlineGraceS: 0,
      reconcileEveryMs: 200,
      observeCalls: (call) => {
        calls.push(call);
        // Only this run's hung pool: the database still holds an earlier run's.
        if (call.pool !== hung || call.outcome !== 'transient:Timeout') return;
        firstTimeoutAt ??= new Date();
        if (call.operation === 'create') firstCreateTimeoutAt ??= new Date();
      },
    });
    scheduler.start();
    scheduler.startSupervising();
  });
  afterAll(async () => {
    await scheduler?.close({ graceMs: 1000 });
  });

  it('does not hold up another pool, and its own calls time out and are retried', { timeout: 120_000 }, async () => {
    hung = (await addPool(t.db, { maxSize: HUNG_MACHINES, settings: { ...fast, faults: { hangRate: 1 } } })).name;
    // One use per machine: every task of the healthy pool needs machine jobs (a retire and a provision).
    const healthy = (await addPool(t.db, { maxSize: 3, maxUses: 1, settings: fast })).name;
    // The hung pool asks first, so its machine jobs would take every slot if they could (once its
    // supervision gets past the reconcile whose listing hangs too).
    for (let i = 0; i < HUNG_MACHINES; i++) await submit(t.db, scheduler.deps.queues.runs, { pool: hung, payload: {} });
    const tasks = await Promise.all(Array.from({ length: 20 }, () => submit(t.db, scheduler.deps.queues.runs, { pool: healthy, payload: {} })));
    const overdue = await submit(t.db, scheduler.deps.queues.runs, { pool: healthy, payload: { sim: { durationMs: 600_000 } }, timeoutS: 1, maxAttempts: 1 });
    const explain = async () => ({
      tasks: (await t.db.execute(sql`SELECT pool = ${hung} AS hung, state, count(*)::int AS n FROM tasks GROUP BY 1, 2`)).rows,
      timeouts: calls.filter((c) => c.outcome === 'transient:Timeout').map((c) => `${c.pool} ${c.operation}`),
    });
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${healthy} AND state = 'completed'`)) === tasks.length, 90_000, explain);
    await until(async () => (await getTask(t.db, overdue.task.id))?.state === 'timed_out', 30_000, explain);

    // Once the hung pool's creates are in flight (they hang too), more work for the healthy pool
    // still finds a machine slot, and is done before the first of those creates times out.
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${hung}`)) === HUNG_MACHINES, 30_000, explain);
    const more = await Promise.all(Array.from({ length: 10 }, () => submit(t.db, scheduler.deps.queues.runs, { pool: healthy, payload: {} })));
    const ids = more.map((m) => m.task.id);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(ids)}::uuid[]) AND state = 'completed'`)) === more.length, 60_000, explain);
    const lastOfMore = (await t.db.execute(sql`SELECT max(finished_at) AS at FROM tasks WHERE id = ANY(${sql.param(ids)}::uuid[])`)).rows[0]?.at;

    // The hung pool's calls end at their deadline; its machines' creates are tried again, by at
    // most a quarter of the slots at a time once it is known to be slow.
    const createTimeouts = () => calls.filter((c) => c.pool === hung && c.operation === 'create' && c.outcome === 'transient:Timeout');
    await until(() => Promise.resolve(createTimeouts().length > HUNG_MACHINES), 60_000, explain);
    for (const c of createTimeouts()) expect(c.seconds).toBeGreaterThanOrEqual((TIMEOUT_MS - 50) / 1000);
    expect(new Date(String(lastOfMore)).getTime()).toBeLessThan(firstCreateTimeoutAt!.getTime());
    expect(scheduler.deps.poolSlots.heldBy(hung)).toBeLessThanOrEqual(scheduler.deps.poolSlots.slowShare);
    expect(await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${hung} AND state <> 'queued'`)).toBe(0);

    // The healthy pool did not wait for the hung one: its work (the overdue task's watchdog
    // included) was done before the hung pool's first call had even timed out.
    expect(firstTimeoutAt).toBeDefined();
    const doneBefore = await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${healthy} AND finished_at < ${firstTimeoutAt!.toISOString()}::timestamptz`);
    expect(doneBefore).toBe(tasks.length + 1);
    expect(await checkInvariants(t.db, { pool: healthy })).toEqual([]);
  });
});
