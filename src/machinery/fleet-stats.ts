// Counts over the fleet: what a pool's autoscaler weighs, what the pool summaries and the
// metrics show, and how much `sandfleet check` looked at. Reads only, each one statement.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import type { MachineState } from '../db/states.js';

/** A pool's tasks and machines as its scaling policy weighs them. */
export interface PoolLoad {
  /** Queued tasks that could lease now: a tenant at its `max_running` counts only its free places. */
  queued: number;
  /** Queued tasks held back by their tenant's `max_running` (not demand until it has free places). */
  held?: number;
  /** Queued tasks whose tenant has a `max_running`, held or not. */
  limited?: number;
  leased: number;
  ready: number;
  /** Machines on their way to ready: provisioning, booting, reimaging, and (reimage pools) being recycled. */
  coming: number;
  /** The part of `coming` that is on its way back from a task (reimage pools: stopping … reimaging). */
  recycling: number;
  /** The part of `recycling` already marked to be deleted at release (stopping or stopped, `retire_requested`). */
  retiring: number;
  /** How long the oldest machine still provisioning or booting has been at it, in seconds; null when none is. */
  bootingForS?: number | null;
}

/** Machines on their way to ready in any pool. */
export const MACHINES_COMING = ['provisioning', 'booting', 'reimaging'] as const satisfies readonly MachineState[];
/** Machines on their way back from a task to ready, in a pool that reimages (they count as coming there). */
export const MACHINES_RECYCLING = ['stopping', 'stopped', 'released', 'reimaging'] as const satisfies readonly MachineState[];
/** `'a', 'b'` for an IN list; the lists are constants, never input. */
const inList = (states: readonly string[]) => sql.raw(states.map((s) => `'${s}'`).join(', '));

/** The load of one pool, in one statement: its queued tasks and its machines by what they are good for. */
export async function poolLoad(ex: Executor, pool: Pick<PoolRow, 'name' | 'recycle'>): Promise<PoolLoad> {
  const recycling = pool.recycle === 'reimage' ? inList(MACHINES_RECYCLING) : sql`NULL`;
  const result = await ex.execute(sql`
    WITH waiting AS (
      SELECT q.n, tn.max_running IS NOT NULL AS limited, CASE WHEN tn.max_running IS NULL THEN q.n
        ELSE least(q.n, greatest(0, tn.max_running - (SELECT count(*) FROM tasks a WHERE a.tenant = q.tenant AND a.state IN ('assigned', 'running')))) END AS free
      FROM (SELECT tenant, count(*) AS n FROM tasks WHERE pool = ${pool.name} AND state = 'queued' GROUP BY tenant) q
      JOIN tenants tn ON tn.name = q.tenant
    )
    SELECT
      (SELECT coalesce(sum(free), 0) FROM waiting)::int AS queued,
      (SELECT coalesce(sum(n - free), 0) FROM waiting)::int AS held,
      (SELECT coalesce(sum(n) FILTER (WHERE limited), 0) FROM waiting)::int AS limited,
      count(*) FILTER (WHERE state = 'leased')::int AS leased,
      count(*) FILTER (WHERE state = 'ready')::int AS ready,
      count(*) FILTER (WHERE state IN (${inList(MACHINES_COMING)}) OR state IN (${recycling}))::int AS coming,
      count(*) FILTER (WHERE state IN (${recycling}))::int AS recycling,
      count(*) FILTER (WHERE state IN (${recycling}) AND state IN ('stopping', 'stopped') AND retire_requested)::int AS retiring,
      extract(epoch FROM now() - min(created_at) FILTER (WHERE state IN ('provisioning', 'booting')))::float8 AS booting_for_s
    FROM machines WHERE pool = ${pool.name}`);
  const r = result.rows[0] ?? {};
  const n = (v: unknown) => Number(v ?? 0);
  const bootingForS = r.booting_for_s === null || r.booting_for_s === undefined ? null : Math.max(0, Number(r.booting_for_s));
  return { queued: n(r.queued), held: n(r.held), limited: n(r.limited), leased: n(r.leased), ready: n(r.ready), coming: n(r.coming), recycling: n(r.recycling), retiring: n(r.retiring), bootingForS };
}

export interface MachineCount {
  pool: string;
  state: MachineState;
  count: number;
}

/** How many machines each pool has in each state; states with none are absent. */
export async function machineCounts(ex: Executor): Promise<MachineCount[]> {
  const result = await ex.execute(sql`SELECT pool, state, count(*)::int AS n FROM machines GROUP BY pool, state`);
  return result.rows.map((r) => ({ pool: String(r.pool), state: String(r.state) as MachineState, count: Number(r.n) }));
}

/** How many tasks each pool has waiting for a machine; pools with none are absent. */
export async function queuedTaskCounts(ex: Executor): Promise<{ pool: string; count: number }[]> {
  const result = await ex.execute(sql`SELECT pool, count(*)::int AS n FROM tasks WHERE state = 'queued' GROUP BY pool`);
  return result.rows.map((r) => ({ pool: String(r.pool), count: Number(r.n) }));
}

/** How many machine and task rows there are, of one pool or of all. */
export async function rowCounts(ex: Executor, pool?: string): Promise<{ machines: number; tasks: number }> {
  const inPool = () => (pool === undefined ? sql`true` : sql`pool = ${pool}`);
  const result = await ex.execute(sql`
    SELECT (SELECT count(*) FROM machines WHERE ${inPool()})::int AS machines,
           (SELECT count(*) FROM tasks WHERE ${inPool()})::int AS tasks`);
  return { machines: Number(result.rows[0]?.machines ?? 0), tasks: Number(result.rows[0]?.tasks ?? 0) };
}
