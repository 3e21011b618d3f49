// The reconciler of one pool, run by the pool's leader. Postgres is the truth; the queue and the
// cloud are brought in line with it:
//   queue → tables: queued tasks claim the ready machines the in-transaction claims left (each
//     claims a bounded number); a lease whose run job is gone (a flushed Redis, a crash between
//     lease and enqueue) gets it back under the same job id; a machine resting in an
//     intermediate state gets a resume job (converge finishes what a crash left).
//   tables → cloud: a ready or leased machine whose instance is gone is retired; its task is
//     requeued while attempts remain (release decides).
//   cloud → tables: an instance of this cluster and pool that no row holds, older than the
//     orphan grace, is deleted.
import type { TaskRow } from '../db/schema.js';
import { beginStop, databaseNow, drainMachine, heldProviderIds, leasedTasks, listMachines, stuckMachines } from '../machinery/index.js';
import { isProviderError } from '../providers/errors.js';
import type { Instance } from '../providers/types.js';
import type { SchedulerDependencies } from './dependencies.js';
import { dispatch } from './dispatcher.js';
import { agentSettingsOf } from './pool-settings.js';
import { addJobs, runJob, runJobId } from './queue.js';
import { enqueueMachine } from './supervisor.js';

export interface ReconcileOptions {
  /** A machine in an intermediate state this long is assumed dropped and resumed. */
  stuckAfterMs: number;
  /** A lease this old must have its run job. */
  leaseGraceMs: number;
  /** An instance no row holds is deleted once this old (creates in flight are younger). */
  orphanGraceMs: number;
}

export interface ReconcileReport {
  dispatched: number;
  runJobsRestored: number;
  resumed: number;
  lost: number;
  orphansDeleted: number;
}

export async function reconcile(deps: SchedulerDependencies, poolName: string, options: ReconcileOptions): Promise<ReconcileReport> {
  const report: ReconcileReport = { dispatched: 0, runJobsRestored: 0, resumed: 0, lost: 0, orphansDeleted: 0 };
  const { db, actor } = deps.lifecycle;
  const pool = await deps.lifecycle.pools.get(poolName);

  report.dispatched = (await dispatch(db, deps.queues.runs, pool, actor)).length;
  // Agent leases have no run job: their agents drive them, and silence ends them (supervisor).
  const runJobs = agentSettingsOf(pool) === null;
  for (const task of runJobs ? await leasedTasks(db, pool.name, options.leaseGraceMs) : []) {
    if (task.machineId && (await restoreRunJob(deps, task, task.machineId))) report.runJobsRestored++;
  }
  for (const machine of await stuckMachines(db, pool.name, options.stuckAfterMs)) {
    await enqueueMachine(deps, 'resume', machine.id, machine.version);
    report.resumed++;
  }

  const provider = deps.lifecycle.providers.for(pool);
  let instances: Instance[];
  try {
    instances = await provider.list();
  } catch (error) {
    if (isProviderError(error) && error.retryable) return report;
    throw error;
  }
  const alive = new Map(instances.filter((i) => i.state !== 'terminated' && i.state !== 'terminating').map((i) => [i.providerId, i]));
  // Graces are measured by the database's clock, read only when something is up for one.
  let clock: Promise<number> | undefined;
  const now = () => (clock ??= databaseNow(db).then((d) => d.getTime()));
  for (const machine of await listMachines(db, { pool: pool.name, states: ['ready', 'leased'] })) {
    if (!machine.providerId || alive.has(machine.providerId) || (await now()) - machine.stateChangedAt.getTime() < options.orphanGraceMs) continue;
    const gone = machine.state === 'ready'
      ? await drainMachine(db, machine.id, { actor, reason: 'instance gone' })
      : await beginStop(db, machine.id, { actor, taskId: machine.taskId, reason: 'instance gone' });
    if (!gone.ok) continue;
    await enqueueMachine(deps, 'resume', machine.id, gone.row.version);
    report.lost++;
  }

  const held = await heldProviderIds(db, pool.name);
  const all = await listMachines(db, { pool: pool.name });
  const rows = new Set(all.map((m) => m.id));
  // A launch's instances carry no machine id: a member still provisioning will claim its own.
  const launching = new Set(all.filter((m) => m.state === 'provisioning' && m.launchId).map((m) => m.launchId));
  for (const instance of alive.values()) {
    const claimed = held.has(instance.providerId) || (instance.machineId !== null && rows.has(instance.machineId)) || (instance.launchId != null && launching.has(instance.launchId));
    if (claimed || instance.launchedAt === null || (await now()) - instance.launchedAt.getTime() <= options.orphanGraceMs) continue;
    await provider.delete(instance.providerId);
    report.orphansDeleted++;
  }
  return report;
}

/**
 * Gives a lease its run job back when the job is missing (a flushed Redis, a crash between
 * lease and enqueue), has given up, or ended while the lease is still open; answers whether it did.
 */
async function restoreRunJob(deps: SchedulerDependencies, task: TaskRow, machineId: string): Promise<boolean> {
  const job = await deps.queues.runs.getJob(runJobId(task.id, task.attempts));
  if (job && !(await job.isFailed()) && !(await job.isCompleted())) return false;
  await job?.remove();
  await addJobs(deps.queues.runs, [runJob({ task }, machineId)]);
  return true;
}
