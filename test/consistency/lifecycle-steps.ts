// One step of a machine's reimage cycle (ready → leased → stopping → stopped → released →
// reimaging → ready), decided from a row the actor read earlier and so possibly stale. Two
// implementations drive the same workloads: the real machinery, and naive twins under naive/.
import type { Db, MachineRow, TaskRow } from '../../src/db/index.js';
import {
  allocate,
  beginReimage,
  finishTask,
  getTask,
  markReady,
  markStopped,
  releaseMachine,
  startTask,
} from '../../src/machinery/index.js';

export interface StepResult {
  /** The machine this step changed (for a lease: the one it got), when it won. */
  machineId: string | null;
  /** True when this actor's write took effect; false when it lost the race (Conflict). */
  won: boolean;
  /** A machine transition (versions bump) as opposed to a task-only step. */
  machineChanged: boolean;
  /** A release that ended a task's lease, so `uses` must have grown by one. */
  servedTask: boolean;
}

export interface LifecycleSteps {
  lease(pool: string): Promise<StepResult>;
  start(seen: MachineRow, task: TaskRow): Promise<StepResult>;
  finish(seen: MachineRow): Promise<StepResult>;
  stop(seen: MachineRow): Promise<StepResult>;
  release(seen: MachineRow): Promise<StepResult>;
  reimage(seen: MachineRow): Promise<StepResult>;
  ready(seen: MachineRow): Promise<StepResult>;
}

const lost: StepResult = { machineId: null, won: false, machineChanged: false, servedTask: false };

export function realSteps(db: Db, actor: string): LifecycleSteps {
  const a = { actor };
  const machineStep = (id: string, won: boolean, servedTask = false): StepResult =>
    won ? { machineId: id, won, machineChanged: true, servedTask } : lost;
  return {
    async lease(pool) {
      const lease = await allocate(db, { pool }, actor);
      return lease ? machineStep(lease.machine.id, true) : lost;
    },
    async start(seen, task) {
      const started = await startTask(db, task.id, seen.id, a);
      return started.ok ? { machineId: seen.id, won: true, machineChanged: false, servedTask: false } : lost;
    },
    async finish(seen) {
      if (!seen.taskId) return lost;
      const done = await finishTask(db, { machineId: seen.id, taskId: seen.taskId }, { outcome: 'completed', result: { by: actor } }, a);
      return machineStep(seen.id, done.machine.ok);
    },
    async stop(seen) {
      return machineStep(seen.id, (await markStopped(db, seen.id, a)).ok);
    },
    async release(seen) {
      const released = await releaseMachine(db, { machineId: seen.id, taskId: seen.taskId }, a);
      return machineStep(seen.id, released.machine.ok, seen.taskId !== null);
    },
    async reimage(seen) {
      return machineStep(seen.id, (await beginReimage(db, seen.id, a)).ok);
    },
    async ready(seen) {
      return machineStep(seen.id, (await markReady(db, seen.id, a)).ok);
    },
  };
}

/** Chooses and takes the next step for a machine as the actor last saw it. */
export async function advance(db: Db, steps: LifecycleSteps, pool: string, seen: MachineRow): Promise<StepResult> {
  switch (seen.state) {
    case 'ready':
      return steps.lease(pool);
    case 'leased': {
      const task = seen.taskId ? await getTask(db, seen.taskId) : null;
      return task?.state === 'assigned' ? steps.start(seen, task) : steps.finish(seen);
    }
    case 'stopping':
      return steps.stop(seen);
    case 'stopped':
      return steps.release(seen);
    case 'released':
      return steps.reimage(seen);
    case 'reimaging':
      return steps.ready(seen);
    default:
      return lost;
  }
}
