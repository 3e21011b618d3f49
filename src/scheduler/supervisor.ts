// What the leader of a pool does on every tick: scale the pool, claim for work that waits beside
// ready machines (a tenant below its max_running again), and end tasks past their deadline (their machines are then torn down by the run job, or by a resume job if the run
// job died with its process).
import type { PoolRow, TaskRow } from '../db/schema.js';
import { finishTask, poolLoad, retireRecycling, taskAlarms, timeOutTask } from '../machinery/index.js';
import { agentSettingsOf } from './pool-settings.js';
import { decide, drainIdle, type AutoscalePolicy } from './autoscaler.js';
import { dispatch } from './dispatcher.js';
import type { SchedulerDependencies } from './dependencies.js';
import { addJobs, machineJob, type JobSink, type MachineJob } from './queue.js';

export interface SupervisionResult {
  created: number;
  dispatched: number;
  drained: number;
  timedOut: number;
}

export async function supervise(
  deps: SchedulerDependencies,
  poolName: string,
  options: { provision: (pool: string, count: number) => Promise<number>; deadlineGraceS: number; policyFor: (pool: PoolRow) => AutoscalePolicy },
): Promise<SupervisionResult> {
  const { db, actor } = deps.lifecycle;
  const pool = await deps.lifecycle.pools.get(poolName);
  const load = await poolLoad(db, pool);
  const decision = await decide(db, pool, load, new Date(), options.policyFor(pool));
  // Claims happen where work meets capacity; a tenant freed of its running limit by a task that
  // ended elsewhere is the one case no write of this pool announces. Only then does the tick claim
  // (elsewhere a queued task beside a ready machine is a claim deferred a moment, already coming).
  const dispatched = (load.limited ?? 0) > 0 && load.queued > 0 && load.ready > 0 ? (await dispatch(db, deps.queues.runs, pool, actor)).length : 0;
  const created = decision.create > 0 ? await options.provision(pool.name, decision.create) : 0;
  const drained = await drainIdle(db, decision.drain, actor);
  if (decision.retireMore) await retireRecycling(db, pool.name, decision.retire, { actor, reason: 'beyond what the scaling policy keeps: deleted rather than reimaged' });
  await addJobs(deps.queues.machines, drained.map((m) => machineJob('retire', m.id, m.version)));
  const agent = agentSettingsOf(pool);
  const alarms = await taskAlarms(db, pool.name, options.deadlineGraceS, agent?.heartbeatTimeoutS ?? null);
  let timedOut = 0;
  for (const task of alarms.overdue) {
    const ended = await timeOutTask(db, task.id, { actor, reason: `past its timeout of ${task.timeoutS}s` });
    if (ended.kind !== 'ended') continue;
    timedOut++;
    if (task.machineId) await enqueueMachine(deps, 'resume', task.machineId);
  }
  if (agent) await endQuietLeases(deps, pool.name, alarms.quiet, agent.heartbeatTimeoutS);
  return { created, dispatched, drained: drained.length, timedOut };
}

/** Agent leases silent past the pool's heartbeat timeout end like a lost machine: requeued while attempts remain. */
async function endQuietLeases(deps: SchedulerDependencies, pool: string, quiet: TaskRow[], timeoutS: number): Promise<void> {
  const { db, actor } = deps.lifecycle;
  for (const task of quiet) {
    if (!task.machineId) continue;
    const ended = await finishTask(db, { machineId: task.machineId, taskId: task.id }, { outcome: 'requeue', error: `no heartbeat from its agent for ${timeoutS}s` }, { actor });
    if (ended.machine.ok) {
      deps.log.warn({ task_id: task.id, machine_id: task.machineId, pool }, 'agent went quiet: lease ended');
      await enqueueMachine(deps, 'resume', task.machineId, ended.machine.row.version);
    }
  }
}

/** Queues a machine job; the job id includes the machine's version, so repeats of one step collapse. */
export async function enqueueMachine(deps: { queues: { machines: JobSink<MachineJob> } }, op: MachineJob['op'], machineId: string, version = Date.now()): Promise<void> {
  await addJobs(deps.queues.machines, [machineJob(op, machineId, version)]);
}
