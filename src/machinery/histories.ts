// Histories as people read them: a machine's or a task's events a page at a time, each naming
// the lease it belongs to, and what a machine whose row is gone was, from its log alone.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { events, type EventRow } from '../db/schema.js';
import { machineName } from './capacity.js';
import { MACHINE_DELETED, MACHINE_TRANSITIONS } from './machine-lifecycle.js';
import { TASK_TRANSITIONS } from './task-lifecycle.js';
import type { TransitionTable } from './transition-table.js';

const mapEvent = rowMapper(events);

/** An event with the lease it belongs to: the machine and the task on either side (null outside a lease). */
export interface HistoryEvent extends EventRow {
  machineId: string | null;
  taskId: string | null;
}

/**
 * A page of an entity's events, newest first (by event id), after the event `before`.
 *
 * Only a lease's first event names the other side (`peer_id`, written by the claim); every later
 * event of the same lease belongs to it too, up to the event that ends it: a task's requeue
 * (→ queued) ends an attempt, a machine's release (→ released) its lease. So each event looks
 * back to the latest event that names a peer and takes it, unless an ending event came between.
 * Each look-back reads the entity's own events by index, so a page costs one statement.
 */
export async function historyPage(ex: Executor, entityId: string, page: { limit: number; before?: bigint | undefined }): Promise<HistoryEvent[]> {
  const result = await ex.execute(sql`
    SELECT e.*, (
      SELECT l.peer_id FROM ${events} l
      WHERE l.entity_id = e.entity_id AND l.id <= e.id AND l.peer_id IS NOT NULL
        AND NOT EXISTS (
          SELECT 1 FROM ${events} x
          WHERE x.entity_id = e.entity_id AND x.id > l.id AND x.id < e.id
            AND x.to_state = CASE WHEN e.entity = 'task' THEN 'queued' ELSE 'released' END)
      ORDER BY l.id DESC LIMIT 1) AS lease_peer
    FROM ${events} e
    WHERE e.entity_id = ${entityId} ${page.before === undefined ? sql`` : sql`AND e.id < ${page.before.toString()}::bigint`}
    ORDER BY e.id DESC LIMIT ${page.limit}`);
  return result.rows.map((raw) => {
    const event = mapEvent(raw);
    const peer = typeof raw.lease_peer === 'string' ? raw.lease_peer : null;
    return event.entity === 'machine' ? { ...event, machineId: event.entityId, taskId: peer } : { ...event, machineId: peer, taskId: event.entityId };
  });
}

/** Whether any event names this entity: it existed, even if its row is gone. */
export async function hasHistory(ex: Executor, entityId: string): Promise<boolean> {
  const result = await ex.execute(sql`SELECT EXISTS (SELECT 1 FROM ${events} WHERE ${events.entityId} = ${entityId}) AS yes`);
  return result.rows[0]?.yes === true;
}

/** What a deleted machine was, as its log tells it. */
export interface MachineRecord {
  id: string;
  pool: string;
  name: string;
  /** From its deletion event (null for a machine deleted before events kept them, or never booted). */
  providerId: string | null;
  ip: string | null;
  uses: number;
  lastError: string | null;
  createdAt: Date;
  /** Null when the log has no deletion event (the row was lost some other way). */
  deletedAt: Date | null;
  lastEventAt: Date;
}

/** A machine's record from its events alone (for one whose row is gone); null when it has none. */
export async function machineRecord(ex: Executor, machineId: string): Promise<MachineRecord | null> {
  const result = await ex.execute(sql`
    SELECT
      (array_agg(pool ORDER BY id DESC))[1] AS pool,
      ${machineName(sql`(array_agg(pool ORDER BY id DESC))[1]`, sql`${machineId}::uuid`)} AS made_name,
      (array_agg(detail ORDER BY id DESC) FILTER (WHERE to_state = ${MACHINE_DELETED}))[1] AS detail,
      count(*) FILTER (WHERE to_state = 'released')::int AS released,
      (array_agg(reason ORDER BY id DESC) FILTER (WHERE to_state = 'failed'))[1] AS failed_because,
      min(at) AS created_at,
      max(at) FILTER (WHERE to_state = ${MACHINE_DELETED}) AS deleted_at,
      max(at) AS last_event_at,
      count(*)::int AS n
    FROM ${events} WHERE ${events.entityId} = ${machineId} AND ${events.entity} = 'machine'`);
  const r = result.rows[0];
  if (!r || Number(r.n) === 0) return null;
  const detail = (r.detail ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    id: machineId,
    pool: String(r.pool),
    name: text(detail.name) ?? String(r.made_name),
    providerId: text(detail.provider_id),
    ip: text(detail.ip),
    uses: typeof detail.uses === 'number' ? detail.uses : Number(r.released),
    lastError: text(detail.last_error) ?? text(r.failed_because),
    createdAt: new Date(r.created_at as string | Date),
    deletedAt: r.deleted_at === null ? null : new Date(r.deleted_at as string | Date),
    lastEventAt: new Date(r.last_event_at as string | Date),
  };
}

/** The tasks a machine was leased to, oldest first, at most `limit` (the latest ones). */
export async function tasksLeasedTo(ex: Executor, machineId: string, limit: number): Promise<string[]> {
  const result = await ex.execute(sql`
    SELECT peer_id FROM (
      SELECT peer_id, id FROM ${events}
      WHERE ${events.entityId} = ${machineId} AND ${events.entity} = 'machine' AND ${events.peerId} IS NOT NULL
      ORDER BY id DESC LIMIT ${limit}) latest
    ORDER BY id`);
  return result.rows.map((r) => String(r.peer_id));
}

/**
 * The name of the step an event records: a transition of docs/architecture.md §3 and §4
 * (`lease`, `assign`, `beginStop`, …), or `create` (the first event), `finalize` (a machine's
 * row deleted) or `retireRequest` (a machine's drain after its task, from its state to itself).
 */
export function stepOf(event: Pick<EventRow, 'entity' | 'fromState' | 'toState'>): string {
  if (event.fromState === null) return 'create';
  if (event.toState === MACHINE_DELETED) return 'finalize';
  if (event.fromState === event.toState) return 'retireRequest';
  const table: TransitionTable<string> = event.entity === 'machine' ? MACHINE_TRANSITIONS : TASK_TRANSITIONS;
  for (const [name, spec] of Object.entries(table)) if (spec.to === event.toState && spec.from.includes(event.fromState)) return name;
  return 'unknown';
}
