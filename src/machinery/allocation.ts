// Allocation (rule 7): the next queued task of a pool by priority then age, and the pool's
// longest-ready machine, both taken with FOR UPDATE SKIP LOCKED so concurrent allocators never
// pick the same row and never wait on each other; then lease and assign in one transaction.
import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/database.js';
import { machines, tasks, type MachineRow, type TaskRow } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import { InvariantBreach } from './outcome.js';
import { transitionMachine, transitionTask } from './transition.js';

export interface Lease {
  task: TaskRow;
  machine: MachineRow;
}

export type AllocationTarget = { pool: string } | { taskId: string };

/** Leases a ready machine to a queued task, or answers null when either is not available now. */
export function allocate(db: Db, target: AllocationTarget, actor = 'allocator'): Promise<Lease | null> {
  return withTransaction(db, async (tx) => {
    const task = await lockQueuedTask(tx, target);
    if (!task) return null;
    const machineId = await lockReadyMachine(tx, task.pool);
    if (!machineId) return null;
    const leased = await transitionMachine(tx, machineId, 'lease', { actor }, { set: [sql`task_id = ${task.id}`] });
    const assigned = await transitionTask(
      tx,
      task.id,
      'assign',
      { actor },
      { set: [sql`machine_id = ${machineId}`, sql`attempts = ${tasks.attempts} + 1`, sql`assigned_at = now()`, sql`outcome = NULL`] },
    );
    // Both rows are locked by this transaction, so neither transition can lose.
    if (!leased.ok || !assigned.ok) throw new InvariantBreach(`locked rows changed under allocation of task ${task.id}`);
    return { task: assigned.row, machine: leased.row };
  });
}

async function lockQueuedTask(tx: Tx, target: AllocationTarget): Promise<{ id: string; pool: string } | null> {
  const which =
    'taskId' in target
      ? sql`${tasks.id} = ${target.taskId}`
      : sql`${tasks.pool} = ${target.pool} ORDER BY ${tasks.priority} DESC, ${tasks.createdAt}, ${tasks.id}`;
  const result = await tx.execute(sql`
    SELECT id, pool FROM ${tasks} WHERE ${tasks.state} = 'queued' AND ${which}
    LIMIT 1 FOR UPDATE SKIP LOCKED`);
  const row = result.rows[0];
  return row ? { id: String(row.id), pool: String(row.pool) } : null;
}

async function lockReadyMachine(tx: Tx, pool: string): Promise<string | null> {
  const result = await tx.execute(sql`
    SELECT id FROM ${machines} WHERE ${machines.pool} = ${pool} AND ${machines.state} = 'ready'
    ORDER BY ${machines.stateChangedAt}, ${machines.id}
    LIMIT 1 FOR UPDATE SKIP LOCKED`);
  const row = result.rows[0];
  return row ? String(row.id) : null;
}
