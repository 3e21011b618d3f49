// The queue on both backends: a run job's id names its lease (task id + attempt), so enqueueing
// a lease twice is a no-op; a batch of leases is added in one call; the worker sees each job once.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queue, Worker } from 'bullmq';
import { addJobs, createQueue, createWorker, runJob, RUN_QUEUE, type RunJob } from '../../src/scheduler/queue.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('queue', 8, { queue: true });
const open: (Queue<RunJob> | Worker<RunJob>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.close()));
});

const lease = (attempts = 1) => ({ task: { id: randomUUID(), attempts, pool: 'p' }, machine: { id: randomUUID(), name: 'm', ip: '10.0.0.1' } });

describe.each(QUEUE_BACKENDS)('run queue on %s', (_, backend) => {
  it('dedupes by lease, adds a batch at once, and processes each job once', async () => {
    const settings = { database: t, backend: backend(), namespace: `q${randomUUID().slice(0, 8)}` };
    const queue = createQueue<RunJob>(RUN_QUEUE, settings);
    open.push(queue);
    const first = lease();
    const batch = [lease(), lease(2)];
    await addJobs(queue, [runJob(first)]);
    await addJobs(queue, [runJob(first), ...batch.map((l) => runJob(l))]);
    // The same task's next attempt is another lease, so another job.
    const retry = { ...first, task: { ...first.task, attempts: 2 } };
    await addJobs(queue, [runJob(retry)]);
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 4 });
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      const worker = createWorker<RunJob>(RUN_QUEUE, settings, async (job) => {
        seen.push(job.id ?? '');
        if (seen.length === 4) resolve();
        return Promise.resolve();
      }, 1);
      open.push(worker);
    });
    await done;
    expect(new Set(seen).size).toBe(4);
    expect(seen).toContain(`run.${first.task.id}.1`);
    expect(seen).toContain(`run.${first.task.id}.2`);
  });
});
