// Machine jobs: provision (create, boot, and let queued tasks claim it), retire (a drained or
// failed machine down to a deleted row), or resume one a crash left half done. Retryable
// provider errors are thrown for BullMQ to retry with backoff. Each job first takes a token
// from its provider account's bucket; without one it is delayed, not failed, and costs no attempt.
import { DelayedError, type Job } from 'bullmq';
import { getMachine, takeToken } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
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
    if (!grant.granted) {
      await job.moveToDelayed(Date.now() + grant.retryInMs, token);
      throw new DelayedError(`rate limit of ${providers.accountOf(pool)}: retry in ${grant.retryInMs} ms`);
    }
  }
  // Provision, retire or resume: every machine job drives the machine to rest from wherever it is.
  const resting = await converge(deps.lifecycle, machine, deps.readinessFor(pool));
  deps.log.info({ machine_id: machine.id, pool: pool.name, op: job.data.op, resting }, 'machine job done');
}
