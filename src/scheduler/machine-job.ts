// Machine jobs: provision (create, boot, then dispatch the pool) and teardown (a drained or
// failed machine: stop, release, delete until gone). Retryable provider errors are thrown for
// BullMQ to retry with backoff; every step starts from a conditional transition.
import { beginStop, getMachine, getPool, releaseMachine } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { dispatch } from './dispatcher.js';
import { provision } from './lifecycle/provision.js';
import { awaitReady } from './lifecycle/readiness.js';
import { deleteMachine, stop } from './lifecycle/teardown.js';
import type { MachineJob } from './queue.js';

export async function runMachineJob(deps: SchedulerDependencies, job: MachineJob): Promise<void> {
  const machine = await getMachine(deps.lifecycle.db, job.machineId);
  if (!machine) return;
  const pool = await getPool(deps.lifecycle.db, machine.pool);
  if (!pool) throw new Error(`machine ${machine.id} names pool ${machine.pool}, which does not exist`);
  if (job.op === 'provision') {
    const result = await provision(deps.lifecycle, job.machineId);
    const ready = result === 'booting' ? await awaitReady(deps.lifecycle, job.machineId, deps.readinessFor(pool)) : result;
    if (ready === 'ready') await dispatch(deps, pool.name);
    if (ready === 'failed') await deleteMachine(deps.lifecycle, job.machineId);
    return;
  }
  await retire(deps, job.machineId);
}

/** A machine without a task leaves service: draining or failed, down to a deleted row. */
async function retire(deps: SchedulerDependencies, machineId: string): Promise<void> {
  const { db, actor } = deps.lifecycle;
  await beginStop(db, machineId, { actor, taskId: null });
  await stop(deps.lifecycle, machineId);
  await releaseMachine(db, { machineId, taskId: null }, { actor });
  await deleteMachine(deps.lifecycle, machineId);
}
