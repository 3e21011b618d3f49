// The pool and scheduler the sandfleet figures run with: the sim provider with no boot, stop or
// terminate delay and an instant runner, so what is measured is sandfleet's own machinery
// (transactions, events, jobs), not simulated waiting.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database, Db } from '../../src/db/index.js';
import type { PoolDefinition } from '../../src/machinery/index.js';
import type { TaskObservation } from '../../src/scheduler/log.js';
import type { QueueBackend } from '../../src/scheduler/queue.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { addPool } from '../support/fixtures.js';
import { until } from '../support/until.js';

export const INSTANT_SIM = { bootDelayMs: 0, stopDelayMs: 0, terminateDelayMs: 0 };
export const INSTANT_RUNNER = { kind: 'sim', minDurationMs: 0, maxDurationMs: 0 };

/** Reused: reimaged back to ready after every task (max_uses none). Retired: one task, then deleted. */
export type Recycling = 'reused' | 'retired';

/** A pool kept at `machines` ready machines (min_ready = max_size), recycled as asked. */
export function addInstantPool(db: Db, name: string, machines: number, recycling: Recycling): Promise<PoolDefinition> {
  const recycle = recycling === 'reused' ? { maxUses: null, recycle: 'reimage' as const } : { maxUses: 1, recycle: 'delete' as const };
  return addPool(db, {
    name,
    minReady: machines,
    maxSize: machines,
    idleTimeoutS: 600,
    settings: INSTANT_SIM,
    runner: INSTANT_RUNNER,
    readiness: { bootTimeoutS: 60 },
    ...recycle,
  });
}

/**
 * A scheduler as the daemon builds it, with the daemon's defaults (supervision every 500 ms, 32
 * tasks and 16 machine operations at once), its runner and readiness read from the pool row.
 */
export function benchScheduler(database: Database, backend: QueueBackend, observeTask?: (o: TaskObservation) => void): Scheduler {
  const id = randomBytes(4).toString('hex');
  return new Scheduler({
    database,
    backend,
    cluster: `bench${id}`,
    namespace: `bench${id}`,
    actor: 'bench',
    ...(observeTask ? { observeTask } : {}),
    onError: (error) => console.error(`  scheduler: ${error instanceof Error ? error.message : String(error)}`),
  });
}

/** Waits until the pool has `count` ready machines (the autoscaler fills it from zero). */
export async function untilReady(db: Db, pool: string, count: number, timeoutMs = 120_000, everyMs = 100): Promise<void> {
  const ready = async () => Number((await db.execute(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} AND state = 'ready'`)).rows[0]?.n ?? 0);
  await until(async () => (await ready()) >= count, timeoutMs, async () => ({ pool, ready: await ready(), wanted: count }), everyMs);
}
