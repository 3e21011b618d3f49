// 1,000 tasks across 3 pools, in one process, on both queue backends, with the sim provider:
// one pool throws machines away after one task (max_uses 1), one recycles by reimage, one
// scales from zero. Random durations, 5% runner failures. Every task ends as its runner said,
// the invariants hold, no pool ever has more rows than max_size (sampled all along), and the
// pools settle back at min_ready.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../src/machinery/index.js';
import { SimRunner } from '../../src/scheduler/runners/sim-runner.js';
import { submit } from '../../src/scheduler/submission.js';
import { prng } from '../support/actors.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';
import { addPool } from '../support/fixtures.js';

const t = useTestDatabase('load', 24, { queue: true });
const TASKS = 1000;
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };


const rows = async (query: ReturnType<typeof sql>) => (await t.db.execute(query)).rows;

describe.each(QUEUE_BACKENDS)('1,000 tasks across 3 pools on %s', (_, backend) => {
  it('ends every task, keeps the invariants and max_size, and settles at min_ready', async () => {
    const run = randomUUID().slice(0, 6);
    const pools = [
      await addPool(t.db, { name: `once-${run}`, maxSize: 8, minReady: 1, maxUses: 1, recycle: 'delete', idleTimeoutS: 0, settings: fast }),
      await addPool(t.db, { name: `reimage-${run}`, maxSize: 6, minReady: 2, maxUses: 40, recycle: 'reimage', idleTimeoutS: 0, settings: fast }),
      await addPool(t.db, { name: `zero-${run}`, maxSize: 5, minReady: 0, recycle: 'delete', idleTimeoutS: 0, settings: fast }),
    ];
    const names = pools.map((p) => p.name);
    const scheduler = testScheduler(t, backend(), {
      runnerFor: () => new SimRunner({ minDurationMs: 1, maxDurationMs: 30 }),
      readinessFor: () => ({ bootTimeoutMs: 30_000 }),
      leaseCheckMs: 50,
      reconcileEveryMs: 500,
      reconcile: { stuckAfterMs: 5000, leaseGraceMs: 5000, orphanGraceMs: 5000 },
    });
    const maxSeen = new Map(names.map((n) => [n, 0]));
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const r of await rows(sql`SELECT pool, count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool`)) {
          maxSeen.set(String(r.pool), Math.max(maxSeen.get(String(r.pool)) ?? 0, Number(r.n)));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      scheduler.start();
      scheduler.startSupervising();
      const random = prng(2024);
      const failing = new Set<number>();
      while (failing.size < TASKS / 20) failing.add(Math.floor(random() * TASKS));
      for (let i = 0; i < TASKS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            submit(t.db, scheduler.deps.queues.tasks, { pool: names[(i + j) % 3], payload: { sim: { failRate: failing.has(i + j) ? 1 : 0 } } }),
          ),
        );
      }
      const byState = () => rows(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY state ORDER BY state`);
      await until(async () => {
        const s = Object.fromEntries((await byState()).map((r) => [String(r.state), Number(r.n)]));
        return (s.completed ?? 0) + (s.failed ?? 0) === TASKS;
      }, 150_000, byState);
      expect(Object.fromEntries((await byState()).map((r) => [String(r.state), Number(r.n)]))).toEqual({ completed: TASKS - TASKS / 20, failed: TASKS / 20 });
      const settled = () => rows(sql`SELECT pool, state, count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool, state`);
      await until(async () => {
        const r = await settled();
        return pools.every((p) => r.filter((x) => x.pool === p.name).reduce((sum, x) => sum + Number(x.n), 0) === p.minReady && r.filter((x) => x.pool === p.name).every((x) => x.state === 'ready'));
      }, 60_000, settled);
      for (const p of pools) {
        expect(await checkInvariants(t.db, { pool: p.name })).toEqual([]);
        expect(maxSeen.get(p.name)).toBeLessThanOrEqual(p.maxSize);
      }
      // The max_uses 1 pool used a fresh machine for every one of its tasks.
      const onceMachines = await rows(sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE pool = ${names[0]} AND to_state = 'leased'`);
      const onceLeases = await rows(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${names[0]} AND to_state = 'leased'`);
      expect(Number(onceMachines[0]?.n)).toBe(Number(onceLeases[0]?.n));
    } finally {
      sampling = false;
      await sampler;
      await scheduler.close({ graceMs: 5000 });
    }
  });
});
