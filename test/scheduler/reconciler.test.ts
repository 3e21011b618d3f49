// The reconciler brings queue and cloud in line with the tables: orphans are deleted, lost
// instances retired (their tasks requeued), and work whose jobs vanished is found again.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { checkInvariants, getMachine, getPool, getTask } from '../../src/machinery/index.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type QueueBackend } from '../../src/scheduler/queue.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { PrivateRedis } from '../support/private-redis.js';
import { useTestDatabase } from '../support/database.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { addPool } from '../support/fixtures.js';

const t = useTestDatabase('reconciler', 24, { queue: true });
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };
const running: Scheduler[] = [];
const supervisionErrors: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close({ graceMs: 2000 })));
});

function scheduler(backend: QueueBackend = { kind: 'postgres' }): Scheduler {
  const s = testScheduler(t, backend, {
    reconcileEveryMs: 100,
    reconcile: { stuckAfterMs: 1000, leaseGraceMs: 1000, orphanGraceMs: 0 },
    onError: (e) => supervisionErrors.push(e instanceof Error ? e.message : String(e)),
  });
  running.push(s);
  return s;
}


const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);

describe('reconciler', () => {
  it('deletes an instance of the pool that no row holds', async () => {
    const s = scheduler();
    const pool = (await addPool(t.db, { maxSize: 0, settings: fast })).name;
    const provider = s.deps.lifecycle.providers.for((await getPool(t.db, pool))!);
    const orphan = await provider.create({ machineId: randomUUID(), name: 'leaked' });
    s.startSupervising();
    await until(async () => ['terminating', 'terminated'].includes((await provider.get(orphan.providerId)).state));
  });

  it('retires a leased machine whose instance died and requeues its task', async () => {
    const s = scheduler();
    s.start();
    const pool = (await addPool(t.db, { maxSize: 1, settings: fast })).name;
    const { task } = await submit(t.db, s.deps.queues.runs, { pool, payload: { sim: { durationMs: 600_000 } }, maxAttempts: 2 });
    s.startSupervising();
    await until(async () => (await getTask(t.db, task.id))?.state === 'running');
    const machine = (await getMachine(t.db, (await getTask(t.db, task.id))!.machineId!))!;
    // The instance dies under the running task.
    await s.deps.lifecycle.providers.for((await getPool(t.db, pool))!).delete(machine.providerId!);
    await until(async () => (await getMachine(t.db, machine.id)) === null);
    const history = await t.db.execute(sql`SELECT from_state, to_state FROM events WHERE entity_id = ${task.id} ORDER BY id`);
    expect(history.rows.map((r) => `${r.from_state}→${r.to_state}`)).toContain('running→queued');
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('ends every task after FLUSHALL wipes the Redis queue mid-run', async () => {
    const redis = await PrivateRedis.start();
    const s = scheduler({ kind: 'redis', url: redis.url });
    try {
      s.start();
      s.startSupervising();
      const pool = (await addPool(t.db, { maxSize: 4, recycle: 'reimage', settings: fast })).name;
      await Promise.all(Array.from({ length: 40 }, () => submit(t.db, s.deps.queues.runs, { pool, payload: { sim: { durationMs: 30 } } })));
      await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) >= 5, 20_000, () => Promise.resolve(supervisionErrors.slice(-5)));
      const client = new Redis(redis.url);
      try {
        expect(await client.dbsize()).toBeGreaterThan(0);
        // Flush and count in one transaction: the workers recreate their keys at once after it.
        const [, size] = (await client.multi().flushall().dbsize().exec())!;
        expect(size).toEqual([null, 0]);
      } finally {
        client.disconnect();
      }
      const explain = async () => ({
        tasks: (await t.db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ${pool} GROUP BY state`)).rows,
        machines: (await t.db.execute(sql`SELECT state, state_changed_at FROM machines WHERE pool = ${pool}`)).rows,
        supervisionErrors: supervisionErrors.slice(-5),
      });
      await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state IN ('completed', 'failed')`)) === 40, 30_000, explain);
      expect(await checkInvariants(t.db, { pool })).toEqual([]);
    } finally {
      // The scheduler goes before its Redis, whatever failed, so that closing it cannot hang.
      running.splice(running.indexOf(s), 1);
      await s.close({ graceMs: 2000 });
      await redis.stop();
    }
  });

  it('recovers at startup what a crashed daemon left in flight, without waiting for the stuck thresholds', async () => {
    const pool = (await addPool(t.db, { maxSize: 3, settings: fast })).name;
    const identity = { cluster: `crash-${randomUUID().slice(0, 8)}`, namespace: `n${randomUUID().slice(0, 8)}` };
    // The first daemon's runner only ends when its lease is taken away: its leases are in flight
    // when it "crashes", and its code keeps running afterwards, as a zombie would.
    const first = testScheduler(t, { kind: 'postgres' }, {
      ...identity,
      runnerFor: () => ({ run: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ outcome: 'failed', error: 'zombie' }))) }),
    });
    first.start();
    first.startSupervising();
    const tasks = await Promise.all(Array.from({ length: 3 }, () => submit(t.db, first.deps.queues.runs, { pool, payload: {}, maxAttempts: 3 })));
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'running'`)) === 3);
    // Crash: workers cut at once, and every job the daemon had is lost with its queue.
    await first.close({ graceMs: 0 });
    const lost = [RUN_QUEUE, MACHINE_QUEUE].map((name) => createQueue(name, { database: t, backend: { kind: 'postgres' }, namespace: identity.namespace }));
    await Promise.all(lost.map((q) => q.obliterate({ force: true })));
    await Promise.all(lost.map((q) => q.close()));
    // The next daemon's thresholds are an hour: only startup recovery can finish this work now.
    const second = testScheduler(t, { kind: 'postgres' }, {
      ...identity,
      onError: (e) => supervisionErrors.push(e instanceof Error ? e.message : String(e)),
      reconcileEveryMs: 3_600_000,
      reconcile: { stuckAfterMs: 3_600_000, leaseGraceMs: 3_600_000, orphanGraceMs: 3_600_000 },
    });
    running.push(second);
    second.start();
    second.startSupervising();
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) === 3, 30_000, async () => ({
      tasks: (await t.db.execute(sql`SELECT state, attempts FROM tasks WHERE pool = ${pool}`)).rows,
      machines: (await t.db.execute(sql`SELECT state FROM machines WHERE pool = ${pool}`)).rows,
      runs: await second.deps.queues.runs.getJobCounts(),
      errors: supervisionErrors.slice(-3),
    }));
    for (const task of tasks) expect((await getTask(t.db, task.task.id))?.attempts).toBe(2);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0, 30_000);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });
});
