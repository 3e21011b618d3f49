// (c) Submit → lease latency with ready machines: tasks submitted one at a time to a pool whose
// machines sit ready (reused, instant runner); each is let finish before the next goes in, so
// every submission finds an idle machine. The latency is read from the task row: assigned_at −
// created_at, both stamped by Postgres (the submitting and the allocating transaction).
import { sql } from 'drizzle-orm';
import type { TaskObservation } from '../../src/scheduler/log.js';
import { submit } from '../../src/scheduler/submission.js';
import { Arrivals } from './arrivals.js';
import { benchBackend, removeQueueKeys } from './backends.js';
import { withBenchDatabase } from './database.js';
import { percentile, type Figure, type Step } from './figures.js';
import type { BackendName, BenchOptions } from './options.js';
import { addInstantPool, benchScheduler, untilReady } from './pools.js';
import { until } from '../support/until.js';

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  tasks: number;
}

const MACHINES = 4;
/** A lease not seen within this long fails the figure rather than hang the run. */
const TASK_TIMEOUT_MS = 30_000;

export async function measureLatency(backendName: BackendName, tasks: number): Promise<LatencyResult> {
  return withBenchDatabase('latency', { queue: backendName === 'postgres', max: 16 }, async (database) => {
    const { db } = database;
    const finished = new Arrivals();
    const backend = benchBackend(backendName);
    const scheduler = benchScheduler(database, backend, (o: TaskObservation) => {
      if (o.kind === 'finished') finished.arrive(o.task.id);
    });
    const pool = (await addInstantPool(db, 'latency', MACHINES, 'reused')).name;
    try {
      scheduler.start();
      scheduler.startSupervising();
      await untilReady(db, pool, MACHINES);
      const runs = scheduler.deps.queues.runs;
      for (let i = 0; i < tasks; i++) {
        const { task } = await submit(db, scheduler.deps.queues.runs, { pool, payload: {} }, { actor: 'bench' });
        await finished.wait(task.id, TASK_TIMEOUT_MS);
        // Let the run job end (its last act is a dispatch, which could lease the next task
        // before its own job does) and the machine come back, so the next task meets a quiet pool.
        await until(async () => (await runs.getJobCounts('active')).active === 0, TASK_TIMEOUT_MS, undefined, 5);
        await untilReady(db, pool, MACHINES, TASK_TIMEOUT_MS, 5);
      }
      const rows = await db.execute(sql`SELECT extract(epoch FROM assigned_at - created_at)::float8 * 1000 AS ms FROM tasks ORDER BY 1`);
      const samples = rows.rows.map((r) => Number(r.ms));
      return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), tasks: samples.length };
    } finally {
      await scheduler.close({ graceMs: 5000 });
      await removeQueueKeys(backend);
    }
  });
}

export function latencySteps(o: BenchOptions): Step[] {
  return o.backends.map(
    (backend): Step => ({
      section: 'c',
      title: `submit → lease latency, ${backend} (${o.latencyTasks} tasks one at a time)`,
      run: async (): Promise<Figure[]> => {
        const r = await measureLatency(backend, o.latencyTasks);
        const how = `${r.tasks} tasks submitted one at a time to a pool of ${MACHINES} ready machines (reused, instant runner), each once the previous one's machine was ready again; tasks.assigned_at − tasks.created_at, on Postgres's clock (start of the submitting transaction → start of the allocating one), whereas the limit is on the client's (add() called → processor start): a ratio near 1 means the queue hop is the whole latency`;
        return (['p50', 'p99'] as const).map((p) => ({
          key: `lease.${backend}.${p}`,
          label: `submit → lease latency, ${p}, ${backend}`,
          value: p === 'p50' ? r.p50Ms : r.p99Ms,
          unit: 'ms',
          better: 'lower',
          limit: `bullmq.${backend}.pickup.${p}`,
          detail: how,
        }));
      },
    }),
  );
}
