// Machine repository: the named steps of the machine lifecycle, each one conditional
// transition (or the one finalizer that deletes a row).
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { machines, type MachineRow } from '../db/schema.js';
import { MACHINE_DELETABLE_STATE, MACHINE_DELETED, MACHINE_RETIRE_REQUEST_STATES } from './machine-lifecycle.js';
import { conflict, ok, type Outcome } from './outcome.js';
import { getMachine, machineEntity, transitionMachine, type TransitionOptions } from './transition.js';
import { ago } from './clock.js';
import { idRange } from './id-prefix.js';
import { afterKey, exactTime, timeKeyOf, type Keyed, type TimeKey } from './keyset.js';

export { getMachine };

/** The provider accepted the create: remember its resource id beside ours (rule 8). */
export function markBooting(
  ex: Executor,
  id: string,
  instance: { providerId: string; ip?: string | null },
  options: TransitionOptions,
): Promise<Outcome<MachineRow>> {
  return transitionMachine(ex, id, 'boot', options, {
    set: [sql`provider_id = ${instance.providerId}`, sql`ip = coalesce(${instance.ip ?? null}, ${machines.ip})`],
  });
}

export function markReady(ex: Executor, id: string, options: TransitionOptions, ip?: string | null) {
  return transitionMachine(ex, id, 'becomeReady', options, {
    set: [sql`ip = coalesce(${ip ?? null}, ${machines.ip})`, sql`last_error = NULL`],
  });
}

/** Take a ready machine out of service. A leased machine answers Conflict: it cannot be drained. */
export function drainMachine(ex: Executor, id: string, options: TransitionOptions) {
  return transitionMachine(ex, id, 'drain', options, { set: [sql`retire_requested = true`] });
}

/**
 * Ask that a machine still serving a task be deleted, not reimaged, once it is released (an
 * operator's drain-after-task). One conditional statement that, like a transition, bumps the
 * version (a copy read before the request is stale: rule 4) and appends its event, from the
 * state to itself: only a machine that will pass through release can take the request. Asking
 * again is a no-op. The answer is the row as it is now, or null if it is gone.
 */
export async function requestRetireAfterTask(ex: Executor, id: string, options: TransitionOptions): Promise<Outcome<MachineRow>> {
  const updated = await ex.execute(sql`
    WITH changed AS (
      UPDATE ${machines} SET retire_requested = true, version = ${machines.version} + 1
      WHERE ${machines.id} = ${id} AND ${machines.state} = ANY(${sql.param([...MACHINE_RETIRE_REQUEST_STATES])}::text[]) AND NOT ${machines.retireRequested}
      RETURNING *
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason)
      SELECT 'machine', id, pool, state, state, ${options.actor}, ${options.reason ?? 'retire requested after task'} FROM changed
    )
    SELECT * FROM changed`);
  const row = updated.rows[0];
  if (row) return ok(machineEntity.map(row));
  const current = await getMachine(ex, id);
  const already = current !== null && current.retireRequested && MACHINE_RETIRE_REQUEST_STATES.some((s) => s === current.state);
  return already ? ok(current) : conflict(current);
}

/**
 * See that `count` of a pool's machines on their way back from a task and not yet released
 * (stopping, stopped) are to be deleted at release rather than reimaged: the pool holds more than
 * its scaling policy wants kept. Those already asked count; the rest are asked oldest first. One
 * statement, as requestRetireAfterTask does it for one machine (version bumped, event from the
 * state to itself); a row another transaction holds is skipped. Answers how many were asked now.
 */
export async function retireRecycling(ex: Executor, pool: string, count: number, options: TransitionOptions): Promise<number> {
  if (count <= 0) return 0;
  const states = sql.param(['stopping', 'stopped']);
  const result = await ex.execute(sql`
    WITH chosen AS (
      SELECT id FROM ${machines}
      WHERE ${machines.pool} = ${pool} AND ${machines.state} = ANY(${states}::text[]) AND NOT ${machines.retireRequested}
      ORDER BY ${machines.stateChangedAt}, ${machines.id}
      LIMIT GREATEST(0, ${count}::int - (
        SELECT count(*) FROM ${machines} WHERE ${machines.pool} = ${pool} AND ${machines.state} = ANY(${states}::text[]) AND ${machines.retireRequested}))
      FOR UPDATE SKIP LOCKED
    ), changed AS (
      UPDATE ${machines} m SET retire_requested = true, version = m.version + 1
      FROM chosen WHERE m.id = chosen.id
      RETURNING m.id, m.pool, m.state
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason)
      SELECT 'machine', id, pool, state, state, ${options.actor}, ${options.reason ?? 'surplus: deleted rather than reimaged'} FROM changed
    )
    SELECT count(*)::int AS n FROM changed`);
  return Number(result.rows[0]?.n ?? 0);
}

/**
 * Begin stopping a machine that is leased (to `taskId`, when given) or draining. Passing the
 * task the caller believes it holds makes a stale caller lose instead of stopping someone else's.
 */
export function beginStop(ex: Executor, id: string, options: TransitionOptions & { taskId?: string | null }) {
  const where = options.taskId === undefined ? [] : [sql`${machines.taskId} IS NOT DISTINCT FROM ${options.taskId}`];
  return transitionMachine(ex, id, 'beginStop', options, { where });
}

export function markStopped(ex: Executor, id: string, options: TransitionOptions) {
  return transitionMachine(ex, id, 'stopped', options);
}

export function beginReimage(ex: Executor, id: string, options: TransitionOptions) {
  return transitionMachine(ex, id, 'reimage', options);
}

export function requestDelete(ex: Executor, id: string, options: TransitionOptions) {
  return transitionMachine(ex, id, 'requestDelete', options);
}

export function markFailed(ex: Executor, id: string, error: string, options: TransitionOptions) {
  return transitionMachine(ex, id, 'fail', options, { set: [sql`last_error = ${error}`] });
}

/**
 * The finalizer, and the only statement that deletes a machine row: only from `deleting` and
 * only without a lease, after the provider has reported the instance gone.
 */
export async function finalizeDelete(ex: Executor, id: string, options: TransitionOptions): Promise<Outcome<MachineRow>> {
  const result = await ex.execute(sql`
    WITH gone AS (
      DELETE FROM ${machines}
      WHERE ${machines.id} = ${id} AND ${machines.state} = ${MACHINE_DELETABLE_STATE} AND ${machines.taskId} IS NULL
      RETURNING *
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason, detail)
      SELECT 'machine', id, pool, state, ${MACHINE_DELETED}, ${options.actor}, ${options.reason ?? null},
        jsonb_build_object('name', name, 'provider_id', provider_id, 'ip', ip, 'uses', uses, 'last_error', last_error) FROM gone
    )
    SELECT * FROM gone`);
  const row = result.rows[0];
  if (row) return ok(machineEntity.map(row));
  return conflict(await getMachine(ex, id));
}

export interface MachineFilter {
  pool?: string | undefined;
  states?: readonly string[] | undefined;
}

export async function listMachines(ex: Executor, filter: MachineFilter = {}): Promise<MachineRow[]> {
  const conditions = [sql`true`];
  if (filter.pool !== undefined) conditions.push(sql`${machines.pool} = ${filter.pool}`);
  if (filter.states) conditions.push(sql`${machines.state} = ANY(${sql.param([...filter.states])}::text[])`);
  const result = await ex.execute(
    sql`SELECT * FROM ${machines} WHERE ${sql.join(conditions, sql` AND `)} ORDER BY ${machines.createdAt}, ${machines.id}`,
  );
  return result.rows.map(machineEntity.map);
}

/** Ids of the machines starting with these hex digits, lowest first, at most `limit`: a range scan of the primary key. */
export async function machineIdsWithPrefix(ex: Executor, digits: string, limit: number): Promise<string[]> {
  const { low, high } = idRange(digits);
  const result = await ex.execute(sql`SELECT id FROM ${machines} WHERE id BETWEEN ${low}::uuid AND ${high}::uuid ORDER BY id LIMIT ${limit}`);
  return result.rows.map((r) => String(r.id));
}

/** Ready machines idle for at least `idleForMs` by the database's clock, oldest first: candidates for scale-down. */
export async function idleReadyMachines(ex: Executor, pool: string, idleForMs: number, limit: number): Promise<MachineRow[]> {
  const result = await ex.execute(sql`
    SELECT * FROM ${machines}
    WHERE ${machines.pool} = ${pool} AND ${machines.state} = 'ready' AND ${machines.stateChangedAt} <= now() - ${ago(idleForMs)}
    ORDER BY ${machines.stateChangedAt}, ${machines.id}
    LIMIT ${limit}`);
  return result.rows.map(machineEntity.map);
}

/**
 * Of the given tasks, those whose machine is still leased to them: one query for every lease a
 * process is running, however many (cancel, the deadline watchdog and a lost machine all end
 * the machine's lease first).
 */
export async function heldLeases(ex: Executor, taskIds: readonly string[]): Promise<Set<string>> {
  if (taskIds.length === 0) return new Set();
  const result = await ex.execute(sql`
    SELECT task_id FROM ${machines} WHERE ${machines.taskId} = ANY(${sql.param([...taskIds])}::uuid[]) AND ${machines.state} = 'leased'`);
  return new Set(result.rows.map((r) => String(r.task_id)));
}

/** The provider id a machine's row holds, if any. */
export async function providerIdOf(ex: Executor, machineId: string): Promise<string | null> {
  const result = await ex.execute(sql`SELECT provider_id FROM ${machines} WHERE ${machines.id} = ${machineId}`);
  const value = result.rows[0]?.provider_id;
  return typeof value === 'string' ? value : null;
}

/** Provider ids held by a pool's rows: instances that belong to a machine. */
export async function heldProviderIds(ex: Executor, pool: string): Promise<Set<string>> {
  const result = await ex.execute(sql`SELECT provider_id FROM ${machines} WHERE ${machines.pool} = ${pool} AND ${machines.providerId} IS NOT NULL`);
  return new Set(result.rows.map((r) => String(r.provider_id)));
}

/** Machines of a pool resting in an intermediate state for more than `forMs` by the database's clock: work a crash may have dropped. */
export async function stuckMachines(ex: Executor, pool: string, forMs: number): Promise<MachineRow[]> {
  const result = await ex.execute(sql`
    SELECT * FROM ${machines}
    WHERE ${machines.pool} = ${pool} AND ${machines.state} NOT IN ('ready', 'leased') AND ${machines.stateChangedAt} < now() - ${ago(forMs)}`);
  return result.rows.map(machineEntity.map);
}

export interface MachinePageFilter extends MachineFilter {
  limit: number;
  /** Only machines after this key in the oldest-first order. */
  after?: TimeKey | undefined;
}

/** A page of machines, oldest first (`created_at`, then `id`), each with its page key. */
export async function listMachinePage(ex: Executor, filter: MachinePageFilter): Promise<Keyed<MachineRow>[]> {
  const conditions = [afterKey(machines.createdAt, machines.id, filter.after, 'asc')];
  if (filter.pool !== undefined) conditions.push(sql`${machines.pool} = ${filter.pool}`);
  if (filter.states) conditions.push(sql`${machines.state} = ANY(${sql.param([...filter.states])}::text[])`);
  const result = await ex.execute(sql`
    SELECT *, ${exactTime(machines.createdAt)} AS page_at FROM ${machines} WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY ${machines.createdAt}, ${machines.id} LIMIT ${filter.limit}`);
  return result.rows.map((raw) => ({ row: machineEntity.map(raw), key: timeKeyOf(raw) }));
}
