// Task repository: submission (an upsert on the idempotency key, never check-then-insert),
// start, cancel and listing.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db, Executor } from '../db/database.js';
import { machines, tasks, type TaskRow } from '../db/schema.js';
import { DEFAULT_TENANT, TASK_TERMINAL_STATES, type Platform, type TaskState } from '../db/states.js';
import { withTransaction } from '../db/transaction.js';
import { beginStop } from './machines.js';
import type { Outcome } from './outcome.js';
import { getTask, taskEntity, transitionTask, type TransitionOptions } from './transition.js';
import { ago } from './clock.js';
import { idRange } from './id-prefix.js';

export { getTask };

export interface NewTask {
  pool: string;
  /** Whose task it is; without it, the default tenant's. */
  tenant?: string;
  platform?: Platform | null;
  tags?: string[];
  payload: Record<string, unknown>;
  priority?: number;
  timeoutS?: number;
  maxAttempts?: number;
  idempotencyKey?: string | null;
  /** A digest of the request, to tell a replay from a different request reusing the key. */
  requestHash?: string | null;
}

export interface Submission {
  task: TaskRow;
  /** False when the idempotency key named an existing task, which is returned instead. */
  created: boolean;
}

/**
 * Inserts the task and its creation event in one statement; a concurrent or repeated
 * submission with the same idempotency key gets the one task that exists.
 */
export async function submitTask(ex: Executor, input: NewTask, options: TransitionOptions): Promise<Submission> {
  const id = randomUUID();
  const tenant = input.tenant ?? DEFAULT_TENANT;
  const inserted = await ex.execute(sql`
    WITH created AS (
      INSERT INTO ${tasks} (id, tenant, idempotency_key, request_hash, pool, platform, tags, payload, priority, timeout_s, max_attempts, state)
      VALUES (${id}, ${tenant}, ${input.idempotencyKey ?? null}, ${input.requestHash ?? null}, ${input.pool}, ${input.platform ?? null},
              ${sql.param(input.tags ?? [])}::text[], ${JSON.stringify(input.payload)}::jsonb, ${input.priority ?? 50},
              ${input.timeoutS ?? 3600}, ${input.maxAttempts ?? 3}, 'queued')
      ON CONFLICT (tenant, idempotency_key) DO NOTHING
      RETURNING *
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason)
      SELECT 'task', id, pool, NULL, state, ${options.actor}, ${options.reason ?? null} FROM created
    )
    SELECT * FROM created`);
  const row = inserted.rows[0];
  if (row) return { task: taskEntity.map(row), created: true };
  // The key exists. ON CONFLICT waited for its inserter to commit, so this new statement sees it.
  const existing = await ex.execute(sql`SELECT * FROM ${tasks} WHERE ${tasks.tenant} = ${tenant} AND ${tasks.idempotencyKey} = ${input.idempotencyKey ?? null}`);
  const found = existing.rows[0];
  // Said without the key: this error is logged (the API's "request failed"), and keys stay in tasks.idempotency_key.
  if (!found) throw new Error(`the task of tenant ${tenant} holding this idempotency key vanished between its insert and its read`);
  return { task: taskEntity.map(found), created: false };
}

/**
 * assigned → running, only on the machine the task was assigned to and only while that machine
 * is still leased to it: a machine already stopping (lost, canceled) runs nothing new.
 */
export function startTask(ex: Executor, id: string, machineId: string, options: TransitionOptions): Promise<Outcome<TaskRow>> {
  return transitionTask(ex, id, 'start', options, {
    // The start is the lease's first sign of life (agent pools count heartbeats from it).
    set: [sql`started_at = now()`, sql`heartbeat_at = now()`],
    where: [
      sql`${tasks.machineId} = ${machineId}`,
      sql`EXISTS (SELECT 1 FROM ${machines} WHERE ${machines.id} = ${machineId} AND ${machines.state} = 'leased' AND ${machines.taskId} = ${id})`,
    ],
  });
}

export type EndResult =
  | { kind: 'ended'; task: TaskRow }
  /** Already terminal, or its runner already reported a verdict that release will record. */
  | { kind: 'unchanged'; task: TaskRow }
  | { kind: 'not_found' };

/** An operator's cancel. A terminal task is returned unchanged. */
export function cancelTask(db: Db, id: string, options: TransitionOptions): Promise<EndResult> {
  return endTaskEarly(db, id, 'cancel', options);
}

/** The deadline watchdog: a task past its timeout ends as timed_out and its machine is retired. */
export function timeOutTask(db: Db, id: string, options: TransitionOptions): Promise<EndResult> {
  return endTaskEarly(db, id, 'timeOut', options);
}

/**
 * Ends a task before its runner reports, wherever it is. A queued task ends at once; a task on
 * a machine ends together with the machine beginning to stop, so no leased machine is left
 * holding an ended task (I1). The write is conditional on the version we read, and is tried
 * again only when the task moved in between.
 */
async function endTaskEarly(db: Db, id: string, how: 'cancel' | 'timeOut', options: TransitionOptions): Promise<EndResult> {
  for (;;) {
    const seen = await getTask(db, id);
    if (!seen) return { kind: 'not_found' };
    if (isTerminal(seen.state) || seen.outcome !== null) return { kind: 'unchanged', task: seen };
    if (how === 'timeOut' && seen.state === 'queued') return { kind: 'unchanged', task: seen };
    try {
      const task = await withTransaction(db, async (tx) => {
        if (seen.state !== 'queued' && seen.machineId) {
          // Machine first, then task: the lock order every two-row write follows.
          await beginStop(tx, seen.machineId, { ...options, taskId: id });
        }
        const ended = await transitionTask(tx, id, how, { ...options, expectVersion: seen.version }, {
          set: [sql`finished_at = now()`],
          where: [sql`${tasks.outcome} IS NULL`],
        });
        if (!ended.ok) throw new TaskMoved();
        return ended.row;
      });
      return { kind: 'ended', task };
    } catch (error) {
      if (!(error instanceof TaskMoved)) throw error;
    }
  }
}

/** Rolls back an early end whose task changed after it was read; the loop reads it again. */
class TaskMoved extends Error {}

export function isTerminal(state: string): boolean {
  return (TASK_TERMINAL_STATES as readonly string[]).includes(state);
}

export interface TaskFilter {
  pool?: string | undefined;
  tenant?: string | undefined;
  state?: TaskState | undefined;
  limit?: number | undefined;
  /** Keyset pagination: only tasks after this one in the newest-first order. */
  after?: string | undefined;
}

export async function listTasks(ex: Executor, filter: TaskFilter = {}): Promise<TaskRow[]> {
  const conditions = [sql`true`];
  if (filter.pool !== undefined) conditions.push(sql`${tasks.pool} = ${filter.pool}`);
  if (filter.tenant !== undefined) conditions.push(sql`${tasks.tenant} = ${filter.tenant}`);
  if (filter.state !== undefined) conditions.push(sql`${tasks.state} = ${filter.state}`);
  if (filter.after !== undefined) conditions.push(sql`(${tasks.createdAt}, ${tasks.id}) < (SELECT created_at, id FROM ${tasks} WHERE id = ${filter.after})`);
  const result = await ex.execute(sql`
    SELECT * FROM ${tasks} WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY ${tasks.createdAt} DESC, ${tasks.id} DESC LIMIT ${filter.limit ?? 100}`);
  return result.rows.map(taskEntity.map);
}

/** Ids of the tasks starting with these hex digits (of one tenant, when given), lowest first, at most `limit`: a range scan of the primary key. */
export async function taskIdsWithPrefix(ex: Executor, digits: string, options: { tenant: string | null; limit: number }): Promise<string[]> {
  const { low, high } = idRange(digits);
  const tenant = options.tenant === null ? sql`` : sql`AND ${tasks.tenant} = ${options.tenant}`;
  const result = await ex.execute(sql`SELECT id FROM ${tasks} WHERE id BETWEEN ${low}::uuid AND ${high}::uuid ${tenant} ORDER BY id LIMIT ${options.limit}`);
  return result.rows.map((r) => String(r.id));
}

/**
 * Active tasks past (started_at, else assigned_at) + timeout_s + `graceS`: of one pool (the
 * deadline watchdog's work) or of every pool (`sandfleet check`'s I4), as of `now` (without it,
 * the database's clock).
 */
export async function overdueTasks(ex: Executor, pool: string | undefined, graceS: number, now?: Date): Promise<TaskRow[]> {
  const result = await ex.execute(sql`
    SELECT * FROM ${tasks}
    WHERE ${pool === undefined ? sql`true` : sql`${tasks.pool} = ${pool}`} AND ${tasks.state} IN ('assigned', 'running')
      AND coalesce(${tasks.startedAt}, ${tasks.assignedAt}) + (${tasks.timeoutS} + ${graceS}) * interval '1 second'
        < ${now === undefined ? sql`now()` : sql`${now.toISOString()}::timestamptz`}`);
  return result.rows.map(taskEntity.map);
}

export interface TaskAlarms {
  /** Past their timeout plus the grace: the deadline watchdog ends them. */
  overdue: TaskRow[];
  /** Agent leases not heard from for the quiet limit: they end like a lost machine. */
  quiet: TaskRow[];
}

/**
 * The active tasks of a pool that need the leader now, in one statement per tick: those past
 * their deadline plus `graceS`, and (agent pools, `quietAfterS` given) those whose agent has been
 * silent that long. A task both overdue and quiet counts as overdue.
 */
export async function taskAlarms(ex: Executor, pool: string, graceS: number, quietAfterS: number | null): Promise<TaskAlarms> {
  const overdue = sql`coalesce(${tasks.startedAt}, ${tasks.assignedAt}) + (${tasks.timeoutS} + ${graceS}) * interval '1 second' < now()`;
  const quiet =
    quietAfterS === null ? sql`false` : sql`coalesce(${tasks.heartbeatAt}, ${tasks.startedAt}, ${tasks.assignedAt}) < now() - ${quietAfterS} * interval '1 second'`;
  const result = await ex.execute(sql`
    SELECT *, ${overdue} AS overdue FROM ${tasks}
    WHERE ${tasks.pool} = ${pool} AND ${tasks.state} IN ('assigned', 'running') AND (${overdue} OR ${quiet})`);
  const alarms: TaskAlarms = { overdue: [], quiet: [] };
  for (const raw of result.rows) (raw.overdue ? alarms.overdue : alarms.quiet).push(taskEntity.map(raw));
  return alarms;
}

/** Active tasks of a pool leased more than `forMs` ago by the database's clock: each must have a run job by now. */
export async function leasedTasks(ex: Executor, pool: string, forMs: number): Promise<TaskRow[]> {
  const result = await ex.execute(sql`
    SELECT * FROM ${tasks}
    WHERE ${tasks.pool} = ${pool} AND ${tasks.state} IN ('assigned', 'running') AND ${tasks.assignedAt} < now() - ${ago(forMs)}`);
  return result.rows.map(taskEntity.map);
}
