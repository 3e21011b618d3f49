// A run job owns one lease: start the task, run the runner under the task's timeout, record
// the verdict, then stop → release → recycle the machine, whatever happened on the way
// (canceled, timed out, machine lost). Every step is a conditional transition, so a repeated
// job (after a crash) only finishes what is left.
import type { MachineRow, TaskRow } from '../db/schema.js';
import { finishTask, getMachine, getPool, startTask, type TaskVerdict } from '../machinery/index.js';
import type { SchedulerDependencies } from './dependencies.js';
import { dispatch } from './dispatcher.js';
import { converge } from './lifecycle/converge.js';
import type { RunJob } from './queue.js';
import { TaskTimeout, type RunVerdict } from './runners/types.js';

export async function runLease(deps: SchedulerDependencies, job: RunJob): Promise<void> {
  const { db, actor } = deps.lifecycle;
  const started = await startTask(db, job.taskId, job.machineId, { actor });
  const machine = await getMachine(db, job.machineId);
  if (!machine) return;
  const pool = await getPool(db, machine.pool);
  if (!pool) throw new Error(`machine ${machine.id} names pool ${machine.pool}, which does not exist`);
  if (started.ok) {
    const ids = { task_id: job.taskId, machine_id: job.machineId, pool: pool.name };
    deps.log.info(ids, 'task started');
    deps.observeTask({ kind: 'started', task: started.row });
    const verdict = await runWatched(deps, started.row, machine);
    // A Conflict here means the lease already ended (canceled, timed out, machine lost).
    const finished = await finishTask(db, { machineId: job.machineId, taskId: job.taskId }, toTaskVerdict(verdict), { actor });
    deps.log.info({ ...ids, outcome: verdict.outcome, recorded: finished.machine.ok, ...(verdict.outcome === 'completed' ? {} : { error: verdict.error }) }, 'task finished');
    deps.observeTask({ kind: 'finished', task: started.row, outcome: verdict.outcome });
  } else if (machine.state === 'leased' && machine.taskId === job.taskId && started.current?.state === 'running') {
    // A repeated job found the task already running: its first run died with its process.
    await finishTask(db, { machineId: job.machineId, taskId: job.taskId }, { outcome: 'requeue', error: 'worker died during the run' }, { actor });
  }
  // stop → release → reimage or delete, resuming from wherever an earlier attempt stopped.
  const resting = await converge(deps.lifecycle, job.machineId, deps.readinessFor(pool));
  if (resting === 'ready') await dispatch(deps, pool.name);
}

/** Runs the task's runner, aborting it at the timeout or as soon as the lease is no longer ours. */
async function runWatched(deps: SchedulerDependencies, task: TaskRow, machine: MachineRow): Promise<RunVerdict> {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(new TaskTimeout(task.timeoutS)), task.timeoutS * 1000);
  const watch = setInterval(() => {
    void getMachine(deps.lifecycle.db, machine.id).then(
      (now) => {
        if (!now || now.state !== 'leased' || now.taskId !== task.id) controller.abort(new Error(`lease ended: machine ${now?.state ?? 'gone'}`));
      },
      () => {},
    );
  }, deps.leaseCheckMs);
  try {
    const pool = await getPool(deps.lifecycle.db, machine.pool);
    if (!pool) throw new Error(`pool ${machine.pool} is gone`);
    return await deps.runnerFor(pool).run({ task, machine, signal: controller.signal });
  } catch (error) {
    return { outcome: 'failed', error: `runner crashed: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    clearTimeout(timeout);
    clearInterval(watch);
  }
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
