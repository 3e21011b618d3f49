// The queue on both backends: a task's job id is its task id (enqueueing twice is a no-op),
// higher task priority runs first, and the worker sees each job once.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queue, Worker } from 'bullmq';
import { createQueue, createWorker, taskJobOptions, TASK_QUEUE, type TaskJob } from '../../src/scheduler/queue.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('queue', 8, { queue: true });
const open: (Queue<TaskJob> | Worker<TaskJob>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.close()));
});

describe.each(QUEUE_BACKENDS)('task queue on %s', (_, backend) => {
  it('dedupes by task id, runs by priority, and processes each job once', async () => {
    const settings = { database: t, backend: backend(), namespace: `q${randomUUID().slice(0, 8)}` };
    const queue = createQueue<TaskJob>(TASK_QUEUE, settings);
    open.push(queue);
    const low = randomUUID();
    const high = randomUUID();
    await queue.add('run', { taskId: low }, taskJobOptions(low, 10));
    await queue.add('run', { taskId: low }, taskJobOptions(low, 10));
    await queue.add('run', { taskId: high }, taskJobOptions(high, 90));
    expect(await queue.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 0, prioritized: 2 });
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      const worker = createWorker<TaskJob>(TASK_QUEUE, settings, async (job) => {
        seen.push(job.data.taskId);
        if (seen.length === 2) resolve();
        return Promise.resolve();
      }, 1);
      open.push(worker);
    });
    await done;
    expect(seen).toEqual([high, low]);
  });
});
