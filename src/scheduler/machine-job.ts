// Machine jobs: provision (create, boot, then dispatch the pool), retire (a drained or failed
// machine down to a deleted row), or resume one a crash left half done. Retryable provider
// errors are thrown for BullMQ to retry with backoff.
import { getMachine, getPool } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { dispatch } from './dispatcher.js';
import { converge } from './lifecycle/converge.js';
import type { MachineJob } from './queue.js';

export async function runMachineJob(deps: SchedulerDependencies, job: MachineJob): Promise<void> {
  const machine = await getMachine(deps.lifecycle.db, job.machineId);
  if (!machine) return;
  const pool = await getPool(deps.lifecycle.db, machine.pool);
  if (!pool) throw new Error(`machine ${machine.id} names pool ${machine.pool}, which does not exist`);
  // Provision, retire or resume: every machine job drives the machine to rest from wherever it is.
  const resting = await converge(deps.lifecycle, job.machineId, deps.readinessFor(pool));
  if (resting === 'ready') await dispatch(deps, pool.name);
}
