// Why a queued task is still queued, read from the tables when asked (nothing is stored): the
// first of these causes that holds, the most fundamental first, for a page of tasks in one
// statement.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { machines, pools, tasks, tenants } from '../db/schema.js';
import { anyDaemonAlive } from './daemons.js';
import { MACHINES_COMING, MACHINES_RECYCLING } from './fleet-stats.js';

/** In the order they are checked: the first that holds is the task's reason (docs/api.md §4). */
export const WAITING_REASONS = [
  /** No daemon has a live heartbeat: nothing creates machines or claims for the queue. */
  'no-daemon',
  /** Its pool has left the config: it gets no machines. */
  'pool-inactive',
  /** Its tenant's `max_running` tasks hold machines, or its free places go to its tasks ahead. */
  'tenant-limit',
  /** A ready machine is there for it: the claim that takes it is a moment away. */
  'machine-ready',
  /** No ready machine for it, but one is on its way (provisioning, booting, reimaging, or recycling in a reimage pool). */
  'machine-coming',
  /** Nothing is ready or coming for it and the pool holds `max_size` machines: it waits for one to come back from a task. */
  'pool-at-max-size',
  /** Nothing is ready or coming for it and the fleet holds `scheduler.max_machines_total` machines. */
  'global-cap',
  /** Nothing is ready or coming for it yet and the pool may grow: its leader creates one on its next tick. */
  'waiting-for-machine',
] as const;
export type WaitingReason = (typeof WAITING_REASONS)[number];

const isReason = (value: unknown): value is WaitingReason => (WAITING_REASONS as readonly unknown[]).includes(value);
const inList = (states: readonly string[]) => sql.raw(states.map((s) => `'${s}'`).join(', '));

/**
 * The waiting reason of each of the given tasks that is queued (the others are absent from the
 * answer), in one statement. `maxMachinesTotal` is the fleet-wide limit when the reader knows it
 * (it lives in the daemon's config, not the tables); without it `global-cap` is never answered.
 *
 * A task's place is counted in its tenant's line in its pool (priority, then age: the order a
 * claim offers a tenant's tasks in), up to the machines ready or coming: the first `ready` of
 * the line are `machine-ready`, the rest of the first `ready + coming` `machine-coming`. With
 * several tenants sharing a pool the round robin decides between lines, so this is the place
 * the task would have if its tenant were alone. Counting stops at the pool's machine count, so a
 * page costs at most that many index entries per pool and tenant on it, never the whole backlog.
 */
export async function waitingReasons(ex: Executor, taskIds: readonly string[], options: { maxMachinesTotal?: number | null | undefined } = {}): Promise<Map<string, WaitingReason>> {
  if (taskIds.length === 0) return new Map();
  const limit = options.maxMachinesTotal ?? null;
  const fleetFull = limit === null ? sql`false` : sql`(SELECT count(*) FROM ${machines}) >= ${limit}::int`;
  const result = await ex.execute(sql`
    WITH page AS (
      SELECT id, pool, tenant FROM ${tasks} WHERE ${tasks.id} = ANY(${sql.param([...taskIds])}::uuid[]) AND ${tasks.state} = 'queued'
    ), pool_facts AS (
      SELECT p.name, p.active, p.max_size, count(m.id)::int AS total,
        count(m.id) FILTER (WHERE m.state = 'ready')::int AS ready,
        count(m.id) FILTER (WHERE m.state IN (${inList(MACHINES_COMING)}) OR (p.recycle = 'reimage' AND m.state IN (${inList(MACHINES_RECYCLING)})))::int AS coming
      FROM ${pools} p LEFT JOIN ${machines} m ON m.pool = p.name
      WHERE p.name IN (SELECT pool FROM page)
      GROUP BY p.name, p.active, p.max_size
    ), tenant_facts AS (
      SELECT tn.name, CASE WHEN tn.max_running IS NULL THEN NULL
        ELSE greatest(0, tn.max_running - (SELECT count(*) FROM ${tasks} a WHERE a.tenant = tn.name AND a.state IN ('assigned', 'running')))::int END AS free
      FROM ${tenants} tn WHERE tn.name IN (SELECT tenant FROM page)
    ), places AS (
      SELECT line.id, line.place
      FROM (SELECT DISTINCT pool, tenant FROM page) g
      JOIN pool_facts pf ON pf.name = g.pool
      CROSS JOIN LATERAL (
        SELECT id, row_number() OVER (ORDER BY priority DESC, created_at, id) AS place FROM (
          SELECT id, priority, created_at FROM ${tasks}
          WHERE ${tasks.pool} = g.pool AND ${tasks.tenant} = g.tenant AND ${tasks.state} = 'queued'
          ORDER BY ${tasks.priority} DESC, ${tasks.createdAt}, ${tasks.id}
          LIMIT pf.ready + pf.coming) head
      ) line
    )
    SELECT page.id, CASE
      WHEN NOT ${anyDaemonAlive} THEN 'no-daemon'
      WHEN NOT pf.active THEN 'pool-inactive'
      WHEN tf.free IS NOT NULL AND tf.free < coalesce(pl.place, pf.ready + pf.coming + 1) THEN 'tenant-limit'
      WHEN pl.place <= pf.ready THEN 'machine-ready'
      WHEN pl.place IS NOT NULL THEN 'machine-coming'
      WHEN pf.total >= pf.max_size THEN 'pool-at-max-size'
      WHEN ${fleetFull} THEN 'global-cap'
      ELSE 'waiting-for-machine'
    END AS reason
    FROM page JOIN pool_facts pf ON pf.name = page.pool
    LEFT JOIN tenant_facts tf ON tf.name = page.tenant
    LEFT JOIN places pl ON pl.id = page.id`);
  const reasons = new Map<string, WaitingReason>();
  for (const r of result.rows) if (isReason(r.reason)) reasons.set(String(r.id), r.reason);
  return reasons;
}
