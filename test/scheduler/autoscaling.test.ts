// Autoscaling under a leader lease, on both queue backends: the pool grows with demand and
// never past max_size (sampled continuously), shrinks to min_ready (zero included, with no
// placeholder rows), and the deadline watchdog ends tasks past their timeout.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, getTask } from '../../src/machinery/index.js';
import { decide, type AutoscalePolicy, type PoolLoad } from '../../src/scheduler/autoscaler.js';
import { LeaderLeases } from '../../src/scheduler/leader.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { addPool, poolRow } from '../support/fixtures.js';

const t = useTestDatabase('autoscaling', 24, { queue: true });
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };


const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);

/** Samples the pool's row count until stopped; returns the largest seen. */
function sampleSize(pool: string): { stop: () => Promise<number> } {
  let max = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return max;
    },
  };
}

describe('scale decision', () => {
  const policy = (keep: number): AutoscalePolicy => ({ name: 'fixed', plan: () => ({ create: 0, drain: 0, drainIdleForMs: 0, keep }) });
  const load = (l: Partial<PoolLoad>): PoolLoad => ({ queued: 0, leased: 0, ready: 0, coming: 0, recycling: 0, retiring: 0, ...l });

  it('retires the machines on their way back beyond what the plan keeps, and asks again only when more are to be marked', async () => {
    const pool = poolRow({ name: 'decide', recycle: 'reimage' });
    const now = new Date();
    // Two on their way back, one running: keeping one leaves two to retire, none marked yet.
    expect(await decide(t.db, pool, load({ leased: 1, coming: 2, recycling: 2 }), now, policy(1))).toEqual({ create: 0, drain: [], retire: 2, retireMore: true });
    // Both already marked: nothing more to ask (the tick skips the statement).
    expect(await decide(t.db, pool, load({ leased: 1, coming: 2, recycling: 2, retiring: 2 }), now, policy(1))).toMatchObject({ retire: 2, retireMore: false });
    // Keeping more than the pool holds retires none.
    expect(await decide(t.db, pool, load({ leased: 1, coming: 2, recycling: 2 }), now, policy(5))).toMatchObject({ retire: 0, retireMore: false });
  });
});

describe('leader lease', () => {
  it('is held by one process at a time and moves when its holder goes', async () => {
    const a = new LeaderLeases(t, 'lease-test');
    const b = new LeaderLeases(t, 'lease-test');
    try {
      expect(await a.tryLead('p')).toBe(true);
      expect(await b.tryLead('p')).toBe(false);
      expect(await b.tryLead('q')).toBe(true);
      await a.close();
      expect(await b.tryLead('p')).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe.each(QUEUE_BACKENDS)('autoscaling on %s', (_, backend) => {
  let scheduler: Scheduler;
  const errors: string[] = [];
  beforeAll(() => {
    scheduler = testScheduler(t, backend(), {
      deadlineGraceS: 0,
      onError: (e) => errors.push(String(e)),
    });
    scheduler.start();
    scheduler.startSupervising();
  });
  afterAll(async () => {
    await scheduler?.close();
  });

  it('grows with demand up to max_size and scales back to zero, with no placeholder rows', async () => {
    const pool = (await addPool(t.db, { maxSize: 3, minReady: 0, idleTimeoutS: 0, settings: fast })).name;
    const sampler = sampleSize(pool);
    await Promise.all(Array.from({ length: 30 }, () => submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} })));
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) === 30);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0);
    expect(await sampler.stop()).toBe(3);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('keeps min_ready machines warm once the work is done', async () => {
    const pool = (await addPool(t.db, { maxSize: 4, minReady: 2, idleTimeoutS: 0, recycle: 'reimage', settings: fast })).name;
    await Promise.all(Array.from({ length: 12 }, () => submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} })));
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) === 12);
    const machineStates = async () => ({
      machines: (await t.db.execute(sql`SELECT state, uses, last_error FROM machines WHERE pool = ${pool}`)).rows,
      failedJobs: (await scheduler.deps.queues.runs.getFailed()).map((j) => j.failedReason),
      failedMachineJobs: (await scheduler.deps.queues.machines.getFailed()).map((j) => j.failedReason),
      retrying: [...(await scheduler.deps.queues.runs.getDelayed()), ...(await scheduler.deps.queues.machines.getDelayed())].map((j) => j.failedReason),
      active: [...(await scheduler.deps.queues.runs.getActive()), ...(await scheduler.deps.queues.machines.getActive())].map((j) => j.name),
      supervisorErrors: errors.slice(0, 3),
    });
    // The pool settles at two machines, both ready (a machine deleted after its task is replaced by a fresh one).
    const settled = sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} HAVING count(*) = 2 AND count(*) FILTER (WHERE state = 'ready') = 2`;
    await until(async () => (await t.db.execute(settled)).rows.length === 1, 20_000, machineStates);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it("scales each pool by the policy its row names: on-demand retires idle machines at once, whatever idle_timeout_s says", async () => {
    const pool = (await addPool(t.db, { maxSize: 2, minReady: 0, idleTimeoutS: 3600, recycle: 'reimage', settings: fast, autoscale: { policy: 'on-demand' } })).name;
    await Promise.all(Array.from({ length: 4 }, () => submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} })));
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) === 4);
    // Under the demand policy the reimaged machines would wait an hour; on-demand lets them go.
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0, 20_000);
    const drained = await count(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${pool} AND entity = 'machine' AND reason = 'idle past idle_timeout_s'`);
    expect(drained).toBeGreaterThan(0);
  });

  it('deletes a machine back from its task rather than reimaging it when the pool holds more than the default policy keeps', async () => {
    // A slow stop leaves the supervisor many ticks to see the machine on its way back.
    // The policy keeps what it wanted within its drain grace, here idle_timeout_s: one second.
    const pool = (await addPool(t.db, { maxSize: 2, minReady: 0, idleTimeoutS: 1, recycle: 'reimage', settings: { ...fast, stopDelayMs: 3000 } })).name;
    await submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} });
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'completed'`)) === 1);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0, 20_000);
    // Nothing is queued or running and the policy has seen no rise to keep a machine warm for.
    const path = (await t.db.execute(sql`SELECT to_state, reason FROM events WHERE pool = ${pool} AND entity = 'machine' ORDER BY id`)).rows;
    expect(path.filter((e) => String(e.reason).startsWith('beyond what the scaling policy keeps'))).toHaveLength(1);
    expect(path.map((e) => e.to_state)).not.toContain('reimaging');
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('ends a task past its timeout as timed_out and retires its machine', async () => {
    const pool = (await addPool(t.db, { maxSize: 1, idleTimeoutS: 0, settings: fast })).name;
    const { task } = await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { sim: { durationMs: 600_000 } }, timeoutS: 1, maxAttempts: 1 });
    await until(async () => (await getTask(t.db, task.id))?.state === 'timed_out');
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });
});
