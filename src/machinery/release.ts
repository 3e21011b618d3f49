// The end of a lease, in the order docs/architecture.md §5 fixes: stop → release → delete record.
// `finishTask` records what the runner concluded and starts the stop; `releaseMachine` ends the
// lease and writes the task's final state; nothing here deletes a row (see finalizeDelete).
import { sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/database.js';
import { machines, tasks, type MachineRow, type TaskRow } from '../db/schema.js';
import type { TaskOutcome } from '../db/states.js';
import { withTransaction } from '../db/transaction.js';
import { claimLeasesIn, type ClaimTurn, type Lease } from './allocation.js';
import { beginStop } from './machines.js';
import { rowOf, type Outcome } from './outcome.js';
import type { TaskTransition } from './task-lifecycle.js';
import { isTerminal } from './tasks.js';
import { getTask, taskEntity, transitionMachine, transitionTask, type TransitionOptions } from './transition.js';

export interface TaskVerdict {
  outcome: TaskOutcome;
  result?: unknown;
  error?: string | null;
}

export interface FinishResult {
  machine: Outcome<MachineRow>;
  /** The task after recording the verdict; unchanged when it had already ended (canceled, timed out). */
  task: TaskRow | null;
}

/**
 * The runner is done: record its verdict on the task (applied later by release, so a crash
 * before release still knows it) and move the machine from leased to stopping, in one transaction.
 */
export function finishTask(
  db: Db,
  lease: { machineId: string; taskId: string },
  verdict: TaskVerdict,
  options: TransitionOptions,
): Promise<FinishResult> {
  return withTransaction(db, async (tx) => {
    const machine = await beginStop(tx, lease.machineId, { ...options, taskId: lease.taskId });
    if (!machine.ok) return { machine, task: await getTask(tx, lease.taskId) };
    const recorded = await tx.execute(sql`
      UPDATE ${tasks} SET outcome = ${verdict.outcome}, result = ${jsonOrNull(verdict.result)}::jsonb, error = ${verdict.error ?? null}
      WHERE ${tasks.id} = ${lease.taskId} AND ${tasks.machineId} = ${lease.machineId}
        AND ${tasks.state} IN ('assigned', 'running') AND ${tasks.outcome} IS NULL
      RETURNING *`);
    const row = recorded.rows[0];
    return { machine, task: row ? taskEntity.map(row) : await getTask(tx, lease.taskId) };
  });
}

export interface ReleaseResult {
  machine: Outcome<MachineRow>;
  /** The released task in its final state (or requeued), when the machine held one. */
  task: TaskRow | null;
}

/**
 * stopped → released: ends the lease, increments `uses` in place and records the task's final
 * state from its verdict, all in one transaction. Without a verdict (machine lost, crash) the
 * task is requeued while attempts remain, otherwise failed. A task that already ended keeps its
 * state: terminal states are final.
 */
export function releaseMachine(
  db: Db,
  lease: { machineId: string; taskId: string | null },
  options: TransitionOptions,
): Promise<ReleaseResult> {
  return withTransaction(db, (tx) => releaseIn(tx, lease, options));
}

async function releaseIn(tx: Tx, lease: { machineId: string; taskId: string | null }, options: TransitionOptions): Promise<ReleaseResult> {
  const machine = await transitionMachine(tx, lease.machineId, 'release', options, {
    set: [sql`task_id = NULL`, sql`uses = ${machines.uses} + ${lease.taskId === null ? 0 : 1}`],
    where: [sql`${machines.taskId} IS NOT DISTINCT FROM ${lease.taskId}`],
  });
  if (!machine.ok || lease.taskId === null) return { machine, task: null };
  return { machine, task: await recordFinalState(tx, lease.taskId, lease.machineId, options) };
}

/** A requeued task may take a ready machine in the transaction that requeues it (one is enough). */
const REQUEUE_CLAIMS = 1;

/** What becomes of a released machine: reimaged back into service, or deleted. */
export type RecycleChoice = 'reimage' | 'delete';

export interface SettleResult {
  /** The machine as this transaction left it (reimaging, deleting, or wherever a conflict found it); null when gone. */
  machine: MachineRow | null;
  /** The task whose lease ended here, in its final state. */
  task: TaskRow | null;
  /** A task requeued here claims a ready machine of its pool at once: the leases made. */
  leases: Lease[];
  /** The requeued task's claim found the pool's turn busy (turn `try`): the caller must claim after the commit. */
  deferred: boolean;
}

/**
 * The provider has confirmed the instance off: in one transaction, stopping → stopped →
 * released (the lease ends, the task's final state is recorded) → reimaging or deleting, as
 * `choose` decides on the released row (its `uses` already counted). Every step is its own
 * conditional transition with its own event, so the finishing order is kept and logged; a
 * machine already past a step (a resumed job) skips it, and a conflict stops the chain there.
 */
export function settleStopped(db: Db, machine: MachineRow, choose: (released: MachineRow) => RecycleChoice, options: TransitionOptions & { turn?: ClaimTurn }): Promise<SettleResult> {
  return withTransaction(db, async (tx) => {
    let row: MachineRow | null = machine;
    let task: TaskRow | null = null;
    if (row.state === 'stopping') row = rowOf(await transitionMachine(tx, row.id, 'stopped', options));
    if (row?.state === 'stopped') {
      // The row says which lease ends here: an id plus the expected task, not a copy.
      const released = await releaseIn(tx, { machineId: row.id, taskId: row.taskId }, options);
      task = released.task;
      row = rowOf(released.machine);
    }
    if (row?.state === 'released') row = rowOf(await transitionMachine(tx, row.id, choose(row) === 'reimage' ? 'reimage' : 'requestDelete', options));
    const leases = task?.state === 'queued' ? await claimLeasesIn(tx, task.pool, REQUEUE_CLAIMS, options.actor, options.turn ?? 'wait') : [];
    return { machine: row, task, leases: leases ?? [], deferred: leases === null };
  });
}

async function recordFinalState(tx: Tx, taskId: string, machineId: string, options: TransitionOptions): Promise<TaskRow | null> {
  // Locked after the machine (the lock order of every two-row write), so the decision below
  // is taken on the current row, not a copy.
  const locked = await tx.execute(sql`SELECT * FROM ${tasks} WHERE ${tasks.id} = ${taskId} FOR UPDATE`);
  const raw = locked.rows[0];
  if (!raw) return null;
  const task = taskEntity.map(raw);
  if (isTerminal(task.state) || task.machineId !== machineId) return task;
  const step = finalStep(task);
  const effects =
    step === 'requeue'
      ? [sql`outcome = NULL`, sql`result = NULL`, sql`error = coalesce(${tasks.error}, 'machine lost')`]
      : [sql`finished_at = now()`, ...(step === 'fail' && task.outcome === null ? [sql`error = coalesce(${tasks.error}, 'machine lost')`] : [])];
  const final = await transitionTask(tx, taskId, step, { ...options, reason: options.reason ?? `outcome ${task.outcome ?? 'none'}` }, { set: effects });
  return final.ok ? final.row : final.current;
}

function finalStep(task: TaskRow): TaskTransition {
  switch (task.outcome) {
    case 'completed':
      // Only a started task can complete; a verdict on one that never ran is a failure.
      return task.state === 'running' ? 'complete' : 'fail';
    case 'failed':
      return 'fail';
    case 'timed_out':
      return 'timeOut';
    default:
      // A task that never ran to a verdict (assigned, or its machine was lost) may go again.
      return task.attempts < task.maxAttempts ? 'requeue' : 'fail';
  }
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
