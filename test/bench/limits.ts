// (a) The limits the sandfleet figures are held against: what PostgreSQL does with the simplest
// write sandfleet makes, and what BullMQ does with jobs that do nothing, on each backend.
import { benchBackend } from './backends.js';
import { withBenchDatabase } from './database.js';
import type { Figure, Step } from './figures.js';
import { measureNoop } from './noop.js';
import type { BenchOptions } from './options.js';
import { runPgbench } from './pgbench.js';

export function limitSteps(o: BenchOptions): Step[] {
  const pgbench: Step = {
    section: 'a',
    title: `pgbench single-row UPDATE (${o.pgbenchSeconds} s, 8 clients; then 1 client)`,
    run: async (): Promise<Figure[]> => {
      const r = await runPgbench(o.pgbenchSeconds);
      const how = `${r.version}, scale 1, \`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid\``;
      return [
        { key: 'pg.update', label: 'pgbench single-row UPDATE, 8 clients, 2 threads', value: r.tps, unit: 'tx/s', better: 'higher', detail: `${how}, -c 8 -j 2 -T ${o.pgbenchSeconds}` },
        { key: 'pg.update.latency', label: 'pgbench single-row UPDATE latency, 1 client', value: r.latencyMs, unit: 'ms', better: 'lower', detail: `${how}, -c 1, latency average` },
      ];
    },
  };
  const noop = o.backends.map(
    (backend): Step => ({
      section: 'a',
      title: `BullMQ no-op jobs on ${backend} (${o.noopJobs} jobs, then ${o.roundTrips} one at a time)`,
      run: () =>
        withBenchDatabase(`noop_${backend}`, { queue: backend === 'postgres', max: 16 }, async (database): Promise<Figure[]> => {
          const r = await measureNoop(database, benchBackend(backend), o.noopJobs, o.roundTrips);
          const how = `createQueue/createWorker of src/scheduler/queue.ts, concurrency 32, removeOnComplete 1000`;
          return [
            { key: `bullmq.${backend}`, label: `BullMQ no-op jobs completed per second, ${backend}`, value: r.jobsPerSecond, unit: 'jobs/s', better: 'higher', detail: `${o.noopJobs} jobs added with addBulk (500 a call) to a waiting worker, first add to last completion; ${how}` },
            { key: `bullmq.${backend}.pickup.p50`, label: `BullMQ no-op add → processor start, p50, ${backend}`, value: r.pickupP50Ms, unit: 'ms', better: 'lower', detail: `${o.roundTrips} jobs one at a time on an idle worker` },
            { key: `bullmq.${backend}.pickup.p99`, label: `BullMQ no-op add → processor start, p99, ${backend}`, value: r.pickupP99Ms, unit: 'ms', better: 'lower', detail: `${o.roundTrips} jobs one at a time on an idle worker` },
          ];
        }),
    }),
  );
  return [pgbench, ...noop];
}
