// Scale-down racing allocation through long churn, on both queue backends: a reimage pool with
// idle_timeout 0 under a bursty trickle of tasks, so the leader's scale-down drains machines the
// dispatcher is about to lease, plus a second drainer acting on stale snapshots of idle machines
// (an operator or a slower daemon). Zero leased machines are drained: every drain in the log
// came from `ready`, no sampled row was ever draining with a task, every task completes.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkInvariants, idleReadyMachines } from '../../src/machinery/index.js';
import { drain } from '../../src/scheduler/drain.js';
import { submit } from '../../src/scheduler/submission.js';
import { prng } from '../support/actors.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { FAST_SIM, tasksByState } from '../support/workload.js';

const t = useTestDatabase('churn', 24, { queue: true });
const BURSTS = 150;
/** Bursts go on past BURSTS until the stale drainer has both won and lost a race, up to this many. */
const MAX_BURSTS = 1000;
const rows = async (query: ReturnType<typeof sql>) => (await t.db.execute(query)).rows;

describe.each(QUEUE_BACKENDS)('scale-down racing allocation on %s', (_, backend) => {
  it('never drains a leased machine', async () => {
    // The demand policy drains every idle machine at once (the forecasting one mostly deletes surplus at release instead): the most drains to race.
    const pool = (await addPool(t.db, { name: `churn-${randomUUID().slice(0, 6)}`, maxSize: 5, minReady: 0, idleTimeoutS: 0, recycle: 'reimage', settings: FAST_SIM, autoscale: { policy: 'demand' } })).name;
    const scheduler = testScheduler(t, backend(), { superviseEveryMs: 10, runnerFor: undefined, readinessFor: undefined });
    await t.db.execute(sql`UPDATE pools SET runner = '{"kind":"sim","minDurationMs":1,"maxDurationMs":15}'::jsonb WHERE name = ${pool}`);
    const staleDeps = { db: t.db, actor: 'stale-drainer', queues: scheduler.deps.queues };
    let running = true;
    const stale = { attempts: 0, drained: 0, lostToLease: 0 };
    const violations: unknown[] = [];
    // Drains from a snapshot a few milliseconds old, as a slower daemon's scale-down would.
    const drainer = (async () => {
      const random = prng(11);
      while (running) {
        const idle = (await idleReadyMachines(t.db, pool, 0, 5)).slice(0, random() < 0.5 ? 1 : 0);
        await new Promise((r) => setTimeout(r, random() * 8));
        for (const m of idle) {
          stale.attempts++;
          const drained = await drain(staleDeps, m.id, { reason: 'stale snapshot' });
          if (drained.kind === 'draining' && drained.machine.version === m.version + 1) stale.drained++;
          else if (drained.kind === 'refused' && drained.machine.state === 'leased') stale.lostToLease++;
        }
        // Leave the dispatcher room: a drainer that took every ready machine at once would starve the queue.
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const watcher = (async () => {
      while (running) {
        const bad = await rows(sql`
          SELECT m.id, m.state, m.task_id FROM machines m WHERE m.pool = ${pool} AND m.state = 'draining' AND m.task_id IS NOT NULL
          UNION ALL
          SELECT m.id, m.state, t.id FROM tasks t JOIN machines m ON m.id = t.machine_id
          WHERE t.pool = ${pool} AND t.state = 'running' AND m.state IN ('draining', 'ready')`);
        violations.push(...bad);
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    try {
      scheduler.start();
      scheduler.startSupervising();
      const random = prng(5);
      // Timing decides who wins each race, so the run goes on until both outcomes happened.
      for (let i = 0; i < MAX_BURSTS && (i < BURSTS || stale.drained === 0 || stale.lostToLease === 0); i++) {
        await Promise.all(Array.from({ length: 1 + Math.floor(random() * 3) }, () => submit(t.db, scheduler.deps.queues.runs, { pool, payload: {}, maxAttempts: 1 })));
        // Quiet spells of varying length let machines go idle, so scale-down keeps firing.
        await new Promise((r) => setTimeout(r, random() * 150));
      }
      await until(async () => (await tasksByState(t.db, [pool])).queued === undefined && Object.keys(await tasksByState(t.db, [pool])).length === 1, 120_000, () => tasksByState(t.db, [pool]));
      const states = await tasksByState(t.db, [pool]);
      expect(Object.keys(states)).toEqual(['completed']);
      await until(async () => (await rows(sql`SELECT 1 FROM machines WHERE pool = ${pool}`)).length === 0, 60_000, () =>
        rows(sql`SELECT id, state, task_id, retire_requested, last_error, state_changed_at FROM machines WHERE pool = ${pool}`),
      );
    } finally {
      running = false;
      await Promise.all([drainer, watcher]);
      await scheduler.close({ graceMs: 5000 });
    }
    const drains = await rows(sql`SELECT from_state, actor, count(*)::int AS n FROM events WHERE pool = ${pool} AND entity = 'machine' AND to_state = 'draining' GROUP BY from_state, actor`);
    expect(drains.every((d) => d.from_state === 'ready')).toBe(true);
    expect(violations).toEqual([]);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
    // The race was real: both drainers drained machines, and stale drains lost to leases.
    expect(drains.filter((d) => d.actor !== 'stale-drainer').reduce((n, d) => n + Number(d.n), 0)).toBeGreaterThan(0);
    expect(stale.drained).toBeGreaterThan(0);
    expect(stale.lostToLease).toBeGreaterThan(0);
    const leases = await rows(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${pool} AND to_state = 'leased'`);
    expect(Number(leases[0]?.n)).toBeGreaterThanOrEqual(BURSTS);
  });
});

describe('operator drain', () => {
  it('retires a ready machine, refuses a leased one, and retires it after its task when asked', async () => {
    const scheduler = testScheduler(t, { kind: 'postgres' }, { runnerFor: undefined, readinessFor: undefined });
    try {
      scheduler.start();
      const operator = { db: t.db, actor: 'operator', queues: scheduler.deps.queues };
      const pool = (await addPool(t.db, { maxSize: 2, recycle: 'reimage', settings: FAST_SIM })).name;
      await scheduler.provision(pool, 2);
      await until(async () => (await rows(sql`SELECT 1 FROM machines WHERE pool = ${pool} AND state = 'ready'`)).length === 2);
      const [idle, busy] = (await rows(sql`SELECT id FROM machines WHERE pool = ${pool} ORDER BY id`)).map((r) => String(r.id));
      expect((await drain(operator, idle!)).kind).toBe('draining');
      await until(async () => (await rows(sql`SELECT 1 FROM machines WHERE id = ${idle}`)).length === 0);

      const { task } = await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { sim: { durationMs: 400 } } });
      await until(async () => (await rows(sql`SELECT 1 FROM tasks WHERE id = ${task.id} AND state = 'running'`)).length === 1);
      const refused = await drain(operator, busy!);
      expect(refused.kind === 'refused' && refused.machine.state).toBe('leased');
      expect((await drain(operator, busy!, { afterTask: true })).kind).toBe('after_task');
      await until(async () => (await rows(sql`SELECT 1 FROM machines WHERE id = ${busy}`)).length === 0);
      expect((await rows(sql`SELECT state FROM tasks WHERE id = ${task.id}`))[0]?.state).toBe('completed');
      // Deleted after its task, never reimaged back into the pool.
      const path = (await rows(sql`SELECT to_state FROM events WHERE entity_id = ${busy} ORDER BY id`)).map((r) => r.to_state);
      expect(path.slice(-6)).toEqual(['leased', 'stopping', 'stopped', 'released', 'deleting', 'deleted']);
      expect((await drain(operator, busy!)).kind).toBe('not_found');
    } finally {
      await scheduler.close({ graceMs: 2000 });
    }
  });
});
