// 1,000 tasks across 3 pools, in one process, on both queue backends, with the sim provider:
// one pool throws machines away after one task (max_uses 1), one recycles by reimage, one
// scales from zero. Random durations, 5% runner failures. Every task ends as its runner said,
// the invariants hold, no pool ever has more rows than max_size (sampled all along), and the
// pools settle back at min_ready.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../src/machinery/index.js';
import { submit } from '../../src/scheduler/submission.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { addThreePools, sampleSizes, scriptedFailures, tasksByState, unsettledPools } from '../support/workload.js';

const t = useTestDatabase('load', 24, { queue: true });
const TASKS = 1000;

const rows = async (query: ReturnType<typeof sql>) => (await t.db.execute(query)).rows;

describe.each(QUEUE_BACKENDS)('1,000 tasks across 3 pools on %s', (_, backend) => {
  it('ends every task, keeps the invariants and max_size, and settles at min_ready', async () => {
    const pools = await addThreePools(t.db, randomUUID().slice(0, 6));
    const names = pools.map((p) => p.name);
    // The runner and boot timeout come from the pool rows, as in production.
    const scheduler = testScheduler(t, backend(), {
      runnerFor: undefined,
      readinessFor: undefined,
      leaseCheckMs: 50,
      reconcileEveryMs: 500,
      reconcile: { stuckAfterMs: 5000, leaseGraceMs: 5000, orphanGraceMs: 5000 },
    });
    const sampler = sampleSizes(t.db, names);
    try {
      scheduler.start();
      scheduler.startSupervising();
      const failing = scriptedFailures(TASKS);
      for (let i = 0; i < TASKS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            submit(t.db, scheduler.deps.queues.runs, { pool: names[(i + j) % 3], payload: { sim: { failRate: failing.has(i + j) ? 1 : 0 } } }),
          ),
        );
      }
      const byState = () => tasksByState(t.db, names);
      await until(async () => {
        const s = await byState();
        return (s.completed ?? 0) + (s.failed ?? 0) === TASKS;
        // A bound for a stuck run, not a speed target: a loaded CI machine is several times slower.
      }, 480_000, byState);
      expect(await byState()).toEqual({ completed: TASKS - TASKS / 20, failed: TASKS / 20 });
      await until(async () => Object.keys(await unsettledPools(t.db, pools)).length === 0, 60_000, () => unsettledPools(t.db, pools));
      const maxSeen = await sampler.stop();
      for (const p of pools) {
        expect(await checkInvariants(t.db, { pool: p.name })).toEqual([]);
        expect(maxSeen.get(p.name)).toBeLessThanOrEqual(p.maxSize);
      }
      // The max_uses 1 pool used a fresh machine for every one of its tasks.
      const onceMachines = await rows(sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE pool = ${names[0]} AND to_state = 'leased'`);
      const onceLeases = await rows(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${names[0]} AND to_state = 'leased'`);
      expect(Number(onceMachines[0]?.n)).toBe(Number(onceLeases[0]?.n));
    } finally {
      await sampler.stop();
      await scheduler.close({ graceMs: 5000 });
    }
  }, 600_000);
});
