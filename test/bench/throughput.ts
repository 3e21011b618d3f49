// (b) End-to-end tasks per second: a pool of ready machines, an instant runner, N tasks
// submitted at once (50 submissions in flight), until every task has ended. The rate is read
// from the tables: tasks / (last finished_at − first created_at).
import { sql } from 'drizzle-orm';
import { submit } from '../../src/scheduler/submission.js';
import { benchBackend, removeQueueKeys } from './backends.js';
import { withBenchDatabase } from './database.js';
import type { Figure, Step } from './figures.js';
import type { BackendName, BenchOptions } from './options.js';
import { addInstantPool, benchScheduler, untilReady, type Recycling } from './pools.js';
import { until } from '../support/until.js';

export interface ThroughputResult {
  tasksPerSecond: number;
  tasks: number;
  completed: number;
  seconds: number;
  /** Distinct machines that ran a task: about `machines` when reused, `tasks` when retired. */
  machinesUsed: number;
}

const IN_FLIGHT = 50;

export async function measureThroughput(backendName: BackendName, recycling: Recycling, tasks: number, machines: number): Promise<ThroughputResult> {
  return withBenchDatabase(`e2e_${recycling}`, { queue: backendName === 'postgres', max: 20 }, async (database) => {
    const { db } = database;
    const pool = (await addInstantPool(db, `e2e-${recycling}`, machines, recycling)).name;
    const backend = benchBackend(backendName);
    const scheduler = benchScheduler(database, backend);
    try {
      scheduler.start();
      scheduler.startSupervising();
      // Measure the steady state, not the pool's first boot.
      await untilReady(db, pool, machines);
      for (let i = 0; i < tasks; i += IN_FLIGHT) {
        const batch = Array.from({ length: Math.min(IN_FLIGHT, tasks - i) }, () => submit(db, scheduler.deps.queues.runs, { pool, payload: {} }, { actor: 'bench' }));
        await Promise.all(batch);
      }
      const ended = async () => Number((await db.execute(sql`SELECT count(*)::int AS n FROM tasks WHERE finished_at IS NOT NULL`)).rows[0]?.n ?? 0);
      // Generous: a stuck run should fail this figure, not hang the whole benchmark.
      await until(async () => (await ended()) === tasks, 120_000 + tasks * 200, async () => ({ ended: await ended(), tasks }), 100);
      const summary = await db.execute(sql`
        SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed,
               extract(epoch FROM max(finished_at) - min(created_at))::float8 AS seconds,
               (SELECT count(DISTINCT entity_id)::int FROM events WHERE entity = 'machine' AND to_state = 'leased') AS machines_used
        FROM tasks`);
      const r = summary.rows[0] ?? {};
      const seconds = Number(r.seconds);
      return { tasksPerSecond: tasks / seconds, tasks, completed: Number(r.completed), seconds, machinesUsed: Number(r.machines_used) };
    } finally {
      await scheduler.close({ graceMs: 5000 });
      await removeQueueKeys(backend);
    }
  });
}

export function throughputSteps(o: BenchOptions): Step[] {
  return o.backends.flatMap((backend) =>
    (['reused', 'retired'] as const).map(
      (recycling): Step => ({
        section: 'b',
        title: `end-to-end, ${backend}, machines ${recycling} (${o.e2eTasks} tasks, ${o.e2eMachines} machines)`,
        run: async (): Promise<Figure[]> => {
          const r = await measureThroughput(backend, recycling, o.e2eTasks, o.e2eMachines);
          const how = recycling === 'reused' ? 'recycle reimage, max_uses none: each machine goes back to ready' : 'recycle delete, max_uses 1: each machine is deleted after its task and the autoscaler creates another';
          return [
            {
              key: `e2e.${backend}.${recycling}`,
              label: `end-to-end tasks per second, ${backend}, machines ${recycling}`,
              value: r.tasksPerSecond,
              unit: 'tasks/s',
              better: 'higher',
              limit: `bullmq.${backend}`,
              detail: `${r.tasks} tasks (${r.completed} completed) in ${r.seconds.toFixed(1)} s on ${r.machinesUsed} machines; pool of ${o.e2eMachines} (min_ready = max_size), ${how}; sim provider without delays, sim runner of 0 ms; scheduler defaults, in the benchmark's process`,
            },
          ];
        },
      }),
    ),
  );
}
