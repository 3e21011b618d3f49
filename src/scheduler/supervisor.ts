// What the leader of a pool does on every tick: scale the pool, and end tasks past their
// deadline (their machines are then torn down by the run job, or by a resume job if the run
// job died with its process).
import { getPool, overdueTasks, timeOutTask } from '../machinery/index.js';
import { decide, drainIdle, poolLoad, type AutoscalePolicy } from './autoscaler.js';
import type { SchedulerDependencies } from './dependencies.js';
import type { Queue } from 'bullmq';
import { machineJobId, type MachineJob } from './queue.js';

export const MACHINE_JOB_OPTIONS = { attempts: 8, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: 1000, removeOnFail: 5000 } as const;

export interface SupervisionResult {
  created: number;
  drained: number;
  timedOut: number;
}

export async function supervise(
  deps: SchedulerDependencies,
  poolName: string,
  options: { provision: (pool: string, count: number) => Promise<number>; deadlineGraceS: number; policy?: AutoscalePolicy },
): Promise<SupervisionResult> {
  const { db, actor } = deps.lifecycle;
  const pool = await getPool(db, poolName);
  if (!pool) return { created: 0, drained: 0, timedOut: 0 };
  const decision = await decide(db, pool, await poolLoad(db, pool), new Date(), options.policy);
  const created = decision.create > 0 ? await options.provision(pool.name, decision.create) : 0;
  const drained = await drainIdle(db, decision.drain, actor);
  await Promise.all(drained.map((id) => enqueueMachine(deps, 'retire', id)));
  let timedOut = 0;
  for (const task of await overdueTasks(db, pool.name, options.deadlineGraceS)) {
    const ended = await timeOutTask(db, task.id, { actor, reason: `past its timeout of ${task.timeoutS}s` });
    if (ended.kind !== 'ended') continue;
    timedOut++;
    if (task.machineId) await enqueueMachine(deps, 'resume', task.machineId);
  }
  return { created, drained: drained.length, timedOut };
}

/** Queues a machine job; the job id includes the machine's version, so repeats of one step collapse. */
export async function enqueueMachine(deps: { queues: { machines: Queue<MachineJob> } }, op: 'provision' | 'retire' | 'resume', machineId: string, version = Date.now()): Promise<void> {
  await deps.queues.machines.add(op, { op, machineId }, { ...MACHINE_JOB_OPTIONS, jobId: machineJobId(op, machineId, version) });
}
