// Machine jobs: provision (create, boot, and let queued tasks claim it), retire (a drained or
// failed machine down to a deleted row), or resume one a crash left half done. Retryable
// provider errors are thrown for BullMQ to retry with backoff. A call refused for want of budget
// (the account's own bucket, call-meter.ts, or the cloud's throttling) delays the job instead,
// at no attempt's cost; so does a pool that holds its share of the worker's slots (pool-slots.ts).
import type { Job } from 'bullmq';
import { getMachine } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { delayJob, delayWhenThrottled } from './job-delay.js';
import { converge } from './lifecycle/converge.js';
import type { MachineJob } from './queue.js';

/** How long a slow pool's job waits before trying for a slot again (jittered up to twice). */
const SLOT_WAIT_MS = 1000;

export async function runMachineJob(deps: SchedulerDependencies, job: Job<MachineJob>, token?: string): Promise<void> {
  const { db, pools } = deps.lifecycle;
  const machine = await getMachine(db, job.data.machineId);
  if (!machine) return;
  const pool = await pools.get(machine.pool);
  // A pool leaves other pools a slot each, and a pool whose cloud is not answering most of them.
  const poolCount = (await pools.all()).length;
  if (!deps.poolSlots.tryTake(pool.name, poolCount)) await delayJob(job, token, Math.round(SLOT_WAIT_MS * (1 + Math.random())), `pool ${pool.name} holds its share of machine slots`);
  let resting;
  try {
    // Provision, retire or resume: every machine job drives the machine to rest from wherever it is.
    resting = await delayWhenThrottled(job, token, () => converge(deps.lifecycle, machine, deps.readinessFor(pool)));
  } finally {
    deps.poolSlots.give(pool.name);
  }
  deps.log.info({ machine_id: machine.id, pool: pool.name, op: job.data.op, resting }, 'machine job done');
}
