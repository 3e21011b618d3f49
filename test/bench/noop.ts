// BullMQ's own ceiling on each backend: jobs whose processor returns at once, through the same
// createQueue/createWorker (and so the same connections) the scheduler uses.
import type { Queue, Worker } from 'bullmq';
import type { Database } from '../../src/db/index.js';
import { createQueue, createWorker, type QueueBackend } from '../../src/scheduler/queue.js';
import { Arrivals } from './arrivals.js';
import { benchNamespace, removeQueueKeys } from './backends.js';
import { percentile } from './figures.js';

interface NoopJob {
  i: number;
}

export interface NoopResult {
  jobsPerSecond: number;
  /**
   * add() called → the processor running the job, one job at a time: the part of a job's round
   * trip that a submission also pays before its task can be leased (the lease happens in there).
   */
  pickupP50Ms: number;
  pickupP99Ms: number;
}

/** The job options sandfleet's own jobs carry, so the limit pays the same bookkeeping. */
const JOB_OPTIONS = { removeOnComplete: 1000, removeOnFail: 5000 } as const;
/** Throughput: as many jobs at once as a scheduler runs tasks (run_concurrency's default). */
const THROUGHPUT_CONCURRENCY = 32;
/** Pickup: the concurrency of the scheduler's task worker, whose pickup a submission waits for. */
const PICKUP_CONCURRENCY = 4;
const BULK = 500;

export async function measureNoop(database: Database, backend: QueueBackend, jobs: number, roundTrips: number): Promise<NoopResult> {
  const settings = { database, backend, namespace: benchNamespace() };
  const queue = createQueue<NoopJob>('noop', settings);
  const workers: Worker<NoopJob>[] = [];
  try {
    await queue.waitUntilReady();
    const bulk = createWorker<NoopJob>('noop', settings, () => Promise.resolve(), THROUGHPUT_CONCURRENCY);
    workers.push(bulk);
    await bulk.waitUntilReady();
    const jobsPerSecond = await throughput(queue, bulk, jobs);
    await bulk.close();
    const starts = new Arrivals();
    const single = createWorker<NoopJob>('noop', settings, (job) => Promise.resolve(starts.arrive(job.id ?? '')), PICKUP_CONCURRENCY);
    workers.push(single);
    await single.waitUntilReady();
    const samples = await pickups(queue, starts, roundTrips);
    return { jobsPerSecond, pickupP50Ms: percentile(samples, 50), pickupP99Ms: percentile(samples, 99) };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
    await removeQueueKeys(backend);
  }
}

/** From the first addBulk to the last completion, with the worker already waiting. */
async function throughput(queue: Queue<NoopJob>, worker: Worker<NoopJob>, jobs: number): Promise<number> {
  let completed = 0;
  const allDone = new Promise<void>((resolve) => {
    worker.on('completed', () => {
      if (++completed === jobs) resolve();
    });
  });
  const started = performance.now();
  for (let i = 0; i < jobs; i += BULK) {
    const batch = Array.from({ length: Math.min(BULK, jobs - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: JOB_OPTIONS }));
    await queue.addBulk(batch);
  }
  await allDone;
  const seconds = (performance.now() - started) / 1000;
  worker.removeAllListeners('completed');
  return jobs / seconds;
}

/** One job at a time: add it, wait until the processor has it. Sorted milliseconds. */
async function pickups(queue: Queue<NoopJob>, starts: Arrivals, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const { id = '' } = await queue.add('noop', { i }, JOB_OPTIONS);
    await starts.wait(id);
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}
