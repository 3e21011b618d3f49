// Dispatch: lease ready machines of a pool to its queued tasks, highest priority then oldest
// first (allocate uses FOR UPDATE SKIP LOCKED), and hand each lease to a run job. Triggered by
// a submission's task job and by every machine that becomes ready.
import { allocate } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { runJobId } from './queue.js';

/** A run job resumes where it stopped (every step is conditional), so it may be retried. */
export const RUN_JOB_OPTIONS = { attempts: 8, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: 1000, removeOnFail: 5000 } as const;

/** Leases at most this many per call, so one dispatch never monopolizes a worker. */
const MAX_LEASES_PER_DISPATCH = 200;

export async function dispatch(deps: SchedulerDependencies, pool: string): Promise<number> {
  let leased = 0;
  while (leased < MAX_LEASES_PER_DISPATCH) {
    const lease = await allocate(deps.lifecycle.db, { pool }, deps.lifecycle.actor);
    if (!lease) break;
    leased++;
    // A crash between the lease and this enqueue leaves a lease without a run job; the
    // reconciler re-enqueues it under the same job id.
    await deps.queues.runs.add('run', { taskId: lease.task.id, machineId: lease.machine.id }, { ...RUN_JOB_OPTIONS, jobId: runJobId(lease.task.id, lease.task.attempts) });
  }
  return leased;
}
