import type { Queue } from 'bullmq';
import type { Database } from '../../src/db/index.js';
import { createQueue, RUN_QUEUE, type QueueBackend, type RunJob } from '../../src/scheduler/queue.js';

export { checkInvariants } from '../../src/machinery/index.js';

/** The run queue the spawned processes consume, for submitting from the test. */
export function createQueueForTests(database: Database, backend: QueueBackend, namespace: string): Queue<RunJob> {
  return createQueue<RunJob>(RUN_QUEUE, { database, backend, namespace });
}
