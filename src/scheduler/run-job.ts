// A run job owns one lease: start the task, run the runner under the task's timeout, record
// the verdict, then stop → release → recycle the machine, whatever happened on the way
// (canceled, timed out, machine lost). Every step is a conditional transition that hands its
// row to the next, so a repeated job (after a crash) only finishes what is left.
import { errorMessage } from '../db/errors.js';
import type { MachineRow, TaskRow } from '../db/schema.js';
import { finishTask, getMachine, rowOf, startTask, type TaskVerdict } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { converge } from './lifecycle/converge.js';
import type { RunJob } from './queue.js';
import { TaskTimeout, type LeasedMachine, type RunVerdict } from './runners/types.js';

export async function runLease(deps: SchedulerDependencies, job: RunJob): Promise<void> {
  const { db, actor, pools } = deps.lifecycle;
  const pool = await pools.get(job.pool);
  const lease = { machineId: job.machineId, taskId: job.taskId };
  const started = await startTask(db, job.taskId, job.machineId, { actor });
  let machine: MachineRow | null;
  if (started.ok) {
    const ids = { task_id: job.taskId, machine_id: job.machineId, pool: pool.name };
    deps.log.info(ids, 'task started');
    deps.observeTask({ kind: 'started', task: started.row });
    const verdict = redacted(deps, await runWatched(deps, started.row, await leasedMachine(deps, job)));
    // A Conflict here means the lease already ended (canceled, timed out, machine lost).
    const finished = await finishTask(db, lease, toTaskVerdict(verdict), { actor });
    deps.log.info({ ...ids, outcome: verdict.outcome, recorded: finished.machine.ok, ...(verdict.outcome === 'completed' ? {} : { error: verdict.error }) }, 'task finished');
    deps.observeTask({ kind: 'finished', task: started.row, outcome: verdict.outcome });
    machine = rowOf(finished.machine);
  } else {
    machine = await getMachine(db, job.machineId);
    if (machine?.state === 'leased' && machine.taskId === job.taskId && started.current?.state === 'running') {
      // A repeated job found the task already running: its first run died with its process.
      machine = rowOf((await finishTask(db, lease, { outcome: 'requeue', error: 'worker died during the run' }, { actor })).machine);
    }
  }
  // stop → release → reimage or delete, resuming from wherever an earlier attempt stopped.
  await converge(deps.lifecycle, machine, deps.readinessFor(pool));
}

/** The machine as the runner needs it: from the job, or (a restored job) from its row. */
async function leasedMachine(deps: SchedulerDependencies, job: RunJob): Promise<LeasedMachine> {
  if (job.machine) return { id: job.machineId, ...job.machine };
  const row = await getMachine(deps.lifecycle.db, job.machineId);
  return { id: job.machineId, name: row?.name ?? '', ip: row?.ip ?? null };
}

/** Runs the task's runner, aborting it at the timeout or as soon as the lease is no longer ours. */
async function runWatched(deps: SchedulerDependencies, task: TaskRow, machine: LeasedMachine): Promise<RunVerdict> {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(new TaskTimeout(task.timeoutS)), task.timeoutS * 1000);
  const unwatch = deps.leaseWatch.watch(task.id, controller);
  try {
    const pool = await deps.lifecycle.pools.get(task.pool);
    return await deps.runnerFor(pool).run({ task, machine, signal: controller.signal });
  } catch (error) {
    return { outcome: 'failed', error: `runner crashed: ${errorMessage(error)}` };
  } finally {
    clearTimeout(timeout);
    unwatch();
  }
}

/** The verdict with every secret value of the daemon's taken out, before it is stored or logged. */
function redacted(deps: SchedulerDependencies, verdict: RunVerdict): RunVerdict {
  return verdict.outcome === 'completed' ? { outcome: 'completed', result: deps.secrets.json(verdict.result) } : { ...verdict, error: deps.secrets.text(verdict.error) };
}

function toTaskVerdict(verdict: RunVerdict): TaskVerdict {
  switch (verdict.outcome) {
    case 'completed':
      return { outcome: 'completed', result: verdict.result };
    case 'failed':
      return { outcome: 'failed', error: verdict.error };
    case 'timed_out':
      return { outcome: 'timed_out', error: verdict.error };
  }
}
