// The one way a row changes state (docs/architecture.md §6): a single statement that
// updates the row only if it is still in an allowed `from` state, bumps its version and
// appends the event, so a transition and its event can never be separated or lost.
import { sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { machines, tasks, type MachineRow, type TaskRow } from '../db/schema.js';
import type { MachineState, TaskState } from '../db/states.js';
import { MACHINE_TRANSITIONS, type MachineTransition } from './machine-lifecycle.js';
import { conflict, ok, type Outcome } from './outcome.js';
import { TASK_TRANSITIONS, type TaskTransition } from './task-lifecycle.js';
import type { TransitionSpec } from './transition-table.js';

export interface TransitionOptions {
  /** Who made the change: `allocator`, `worker`, `scaler`, `operator`, … (logged in the event). */
  actor: string;
  reason?: string | undefined;
  /** Optimistic check for callers holding an earlier copy: fail unless the row is still at it. */
  expectVersion?: number | undefined;
  /** The other side of a lease, logged with the event (a lease names its task, an assignment its machine). */
  peer?: string | undefined;
}

/** What a repository function adds to a transition: extra columns to set, extra conditions. */
export interface TransitionEffects {
  set?: SQL[];
  where?: SQL[];
}

interface Entity<Row> {
  kind: 'machine' | 'task';
  table: typeof machines | typeof tasks;
  map: (raw: Record<string, unknown>) => Row;
}

/** One attempted transition, for metrics: a conflict is `ok: false` (counted even if an enclosing transaction rolls back). */
export interface TransitionObservation {
  entity: 'machine' | 'task';
  to: string;
  ok: boolean;
}

const listeners = new Set<(observation: TransitionObservation) => void>();

/** Registers a listener for every transition attempt in this process; returns its removal. */
export function observeTransitions(listener: (observation: TransitionObservation) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function report(observation: TransitionObservation): void {
  for (const listener of listeners) listener(observation);
}

/** For statements that change many rows at once (a batched claim): `count` successful transitions. */
export function reportTransitions(entity: 'machine' | 'task', to: string, count: number): void {
  for (let i = 0; i < count; i++) report({ entity, to, ok: true });
}

export const machineEntity: Entity<MachineRow> = { kind: 'machine', table: machines, map: rowMapper(machines) };
export const taskEntity: Entity<TaskRow> = { kind: 'task', table: tasks, map: rowMapper(tasks) };

export function transitionMachine(
  ex: Executor,
  id: string,
  name: MachineTransition,
  options: TransitionOptions,
  effects: TransitionEffects = {},
): Promise<Outcome<MachineRow>> {
  return applyTransition<MachineState, MachineRow>(ex, machineEntity, id, MACHINE_TRANSITIONS[name], options, effects);
}

export function transitionTask(
  ex: Executor,
  id: string,
  name: TaskTransition,
  options: TransitionOptions,
  effects: TransitionEffects = {},
): Promise<Outcome<TaskRow>> {
  return applyTransition<TaskState, TaskRow>(ex, taskEntity, id, TASK_TRANSITIONS[name], options, effects);
}

async function applyTransition<S extends string, Row>(
  ex: Executor,
  entity: Entity<Row>,
  id: string,
  spec: TransitionSpec<S>,
  options: TransitionOptions,
  effects: TransitionEffects,
): Promise<Outcome<Row>> {
  const t = entity.table;
  const conditions = [
    sql`${t.id} = ${id}`,
    sql`${t.state} = ANY(${sql.param([...spec.from])}::text[])`,
    ...(options.expectVersion === undefined ? [] : [sql`${t.version} = ${options.expectVersion}`]),
    ...(effects.where ?? []),
  ];
  // `prev_state = state` reads the locked, current row, so the event records the true origin.
  const assignments = [
    sql`state = ${spec.to}`,
    sql`prev_state = ${t.state}`,
    sql`version = ${t.version} + 1`,
    sql`state_changed_at = now()`,
    ...(effects.set ?? []),
  ];
  const result = await ex.execute(sql`
    WITH changed AS (
      UPDATE ${t} SET ${sql.join(assignments, sql`, `)}
      WHERE ${sql.join(conditions, sql` AND `)}
      RETURNING *
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason, peer_id)
      SELECT ${entity.kind}, id, pool, prev_state, state, ${options.actor}, ${options.reason ?? null}, ${options.peer ?? null}::uuid FROM changed
    )
    SELECT * FROM changed`);
  const changed = result.rows[0];
  report({ entity: entity.kind, to: spec.to, ok: changed !== undefined });
  if (changed) return ok(entity.map(changed));
  return conflict(await fetchRow(ex, entity, id));
}

async function fetchRow<Row>(ex: Executor, entity: Entity<Row>, id: string): Promise<Row | null> {
  const result = await ex.execute(sql`SELECT * FROM ${entity.table} WHERE ${entity.table.id} = ${id}`);
  const raw = result.rows[0];
  return raw ? entity.map(raw) : null;
}

export const getMachine = (ex: Executor, id: string) => fetchRow(ex, machineEntity, id);
export const getTask = (ex: Executor, id: string) => fetchRow(ex, taskEntity, id);
