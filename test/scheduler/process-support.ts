import type { Queue } from 'bullmq';
import type { Database } from '../../src/db/index.js';
import { createQueue, TASK_QUEUE, type QueueBackend, type TaskJob } from '../../src/scheduler/queue.js';

export { checkInvariants } from '../../src/machinery/index.js';

/** The task queue the spawned processes consume, for submitting from the test. */
export function createQueueForTests(database: Database, backend: QueueBackend, namespace: string): Queue<TaskJob> {
  return createQueue<TaskJob>(TASK_QUEUE, { database, backend, namespace });
}
