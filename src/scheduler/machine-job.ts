// Machine jobs: provision (create, boot, and let queued tasks claim it), retire (a drained or
// failed machine down to a deleted row), or resume one a crash left half done. Retryable
// provider errors are thrown for BullMQ to retry with backoff. Each job first takes a token
// from its provider account's bucket; without one, or when the cloud answers that it is
// throttling, it is delayed, not failed, and costs no attempt.
import type { Job } from 'bullmq';
import { getMachine, takeToken } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { delayJob, delayWhenThrottled } from './job-delay.js';
import { converge } from './lifecycle/converge.js';
import type { MachineJob } from './queue.js';

export async function runMachineJob(deps: SchedulerDependencies, job: Job<MachineJob>, token?: string): Promise<void> {
  const { db, providers, pools } = deps.lifecycle;
  const machine = await getMachine(db, job.data.machineId);
  if (!machine) return;
  const pool = await pools.get(machine.pool);
  const limit = deps.machineRateLimits[pool.provider as keyof typeof deps.machineRateLimits];
  if (limit) {
    const grant = await takeToken(db, providers.accountOf(pool), limit);
    if (!grant.granted) await delayJob(job, token, grant.retryInMs, `rate limit of ${providers.accountOf(pool)}`);
  }
  // Provision, retire or resume: every machine job drives the machine to rest from wherever it is.
  const resting = await delayWhenThrottled(job, token, () => converge(deps.lifecycle, machine, deps.readinessFor(pool)));
  deps.log.info({ machine_id: machine.id, pool: pool.name, op: job.data.op, resting }, 'machine job done');
}
