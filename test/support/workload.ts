// The workload the scheduler's done-when tests share: three pools (one machine per task, recycle
// by reimage, scale from zero), a seeded 5 % of scripted runner failures, a sampler of pool sizes
// that runs all along, and the task counts by state.
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/index.js';
import type { PoolDefinition } from '../../src/machinery/index.js';
import { prng } from './actors.js';
import { addPool } from './fixtures.js';

export const FAST_SIM = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };

/** The three pools of the issue: max_uses 1, recycling by reimage, min_ready 0. */
export async function addThreePools(db: Db, run: string, runner: Record<string, unknown> = { kind: 'sim', minDurationMs: 1, maxDurationMs: 30 }): Promise<PoolDefinition[]> {
  const common = { idleTimeoutS: 0, settings: FAST_SIM, runner, readiness: { bootTimeoutS: 30 } };
  return [
    await addPool(db, { ...common, name: `once-${run}`, maxSize: 8, minReady: 1, maxUses: 1, recycle: 'delete' }),
    await addPool(db, { ...common, name: `reimage-${run}`, maxSize: 6, minReady: 2, maxUses: 40, recycle: 'reimage' }),
    await addPool(db, { ...common, name: `zero-${run}`, maxSize: 5, minReady: 0, recycle: 'delete' }),
  ];
}

/** Which of `total` tasks the runner is told to fail: exactly 5 %, chosen by a seeded PRNG. */
export function scriptedFailures(total: number, seed = 2024): Set<number> {
  const random = prng(seed);
  const failing = new Set<number>();
  while (failing.size < total / 20) failing.add(Math.floor(random() * total));
  return failing;
}

/** Samples every pool's row count until stopped; returns the largest count seen per pool. */
export function sampleSizes(db: Db, pools: readonly string[]): { stop: () => Promise<Map<string, number>> } {
  const max = new Map(pools.map((p) => [p, 0]));
  let running = true;
  const loop = (async () => {
    while (running) {
      const counts = await db.execute(sql`SELECT pool, count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param([...pools])}::text[]) GROUP BY pool`);
      for (const r of counts.rows) max.set(String(r.pool), Math.max(max.get(String(r.pool)) ?? 0, Number(r.n)));
      await new Promise((resolve) => setTimeout(resolve, 10));
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

export async function tasksByState(db: Db, pools: readonly string[]): Promise<Record<string, number>> {
  const result = await db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param([...pools])}::text[]) GROUP BY state ORDER BY state`);
  return Object.fromEntries(result.rows.map((r) => [String(r.state), Number(r.n)]));
}

/** Pools whose machines are not exactly min_ready ready ones, with what they have instead. */
export async function unsettledPools(db: Db, pools: readonly PoolDefinition[]): Promise<Record<string, string[]>> {
  const result = await db.execute(sql`SELECT pool, state FROM machines WHERE pool = ANY(${sql.param(pools.map((p) => p.name))}::text[])`);
  const off: Record<string, string[]> = {};
  for (const p of pools) {
    const states = result.rows.filter((r) => r.pool === p.name).map((r) => String(r.state));
    if (states.length !== p.minReady || states.some((s) => s !== 'ready')) off[p.name] = states;
  }
  return off;
}
