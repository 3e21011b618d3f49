import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/index.js';
import {
  allocate,
  finishTask,
  markBooting,
  markReady,
  markStopped,
  releaseMachine,
  reserveMachines,
  startTask,
  submitTask,
  upsertPool,
  type PoolDefinition,
} from '../../src/machinery/index.js';
import type { MachineRow, PoolRow, TaskRow } from '../../src/db/index.js';

export function poolDefinition(overrides: Partial<PoolDefinition> = {}): PoolDefinition {
  return {
    name: `pool-${randomUUID().slice(0, 8)}`,
    provider: 'sim',
    settings: {},
    platform: 'linux',
    arch: 'x86_64',
    tags: [],
    minReady: 0,
    maxSize: 10,
    maxUses: null,
    idleTimeoutS: 0,
    recycle: 'delete',
    ...overrides,
  };
}

/** A pool row as the database would return it, for code that reads rows without a database (the policies). */
export function poolRow(overrides: Partial<PoolRow> = {}): PoolRow {
  const { runner, readiness, ...definition } = poolDefinition({ name: 'p', maxSize: 50, idleTimeoutS: 300, recycle: 'reimage' });
  return { ...definition, runner: runner ?? { kind: 'sim' }, readiness: readiness ?? {}, autoscale: {}, pricePerHour: null, active: true, createdAt: new Date(0), updatedAt: new Date(0), ...overrides };
}

/** Adds one pool without touching the others of the same database. */
export async function addPool(db: Db, overrides: Partial<PoolDefinition> = {}): Promise<PoolDefinition> {
  const pool = poolDefinition(overrides);
  await upsertPool(db, pool);
  return pool;
}

/** Reserves, "boots" and readies `count` machines the way a provisioner would, without a cloud. */
export async function readyMachines(db: Db, pool: string, count: number): Promise<MachineRow[]> {
  const { machines } = await reserveMachines(db, pool, count, 'fixture');
  const ready: MachineRow[] = [];
  for (const m of machines) {
    const booted = await markBooting(db, m.id, { providerId: `sim-${m.id}`, ip: '10.0.0.1' }, { actor: 'fixture' });
    if (!booted.ok) throw new Error('fixture boot lost');
    const up = await markReady(db, m.id, { actor: 'fixture' });
    if (!up.ok) throw new Error('fixture ready lost');
    ready.push(up.row);
  }
  return ready;
}

export async function queueTasks(db: Db, pool: string, count: number, priority = 50): Promise<TaskRow[]> {
  const out: TaskRow[] = [];
  for (let i = 0; i < count; i++) out.push((await submitTask(db, { pool, payload: { i }, priority }, { actor: 'fixture' })).task);
  return out;
}

/** A machine that is stopped while still holding its task, as the finishing order leaves it. */
export async function stoppedWithTask(db: Db, pool: string): Promise<{ machine: MachineRow; task: TaskRow }> {
  const [task] = await queueTasks(db, pool, 1);
  await readyMachines(db, pool, 1);
  // Concurrent fixtures in one pool lock each other's machines for a moment (SKIP LOCKED);
  // there is one machine per task, so asking again soon finds one.
  let lease = await allocate(db, { taskId: task!.id });
  for (let i = 0; !lease && i < 200; i++) lease = await allocate(db, { taskId: task!.id });
  if (!lease) throw new Error('fixture allocation failed');
  await startTask(db, lease.task.id, lease.machine.id, { actor: 'fixture' });
  await finishTask(db, { machineId: lease.machine.id, taskId: lease.task.id }, { outcome: 'completed' }, { actor: 'fixture' });
  const stopped = await markStopped(db, lease.machine.id, { actor: 'fixture' });
  if (!stopped.ok) throw new Error('fixture stop lost');
  return { machine: stopped.row, task: lease.task };
}

export { releaseMachine };
