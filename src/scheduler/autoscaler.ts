// The autoscaler of one pool, run only by the pool's leader: grows the pool to
//   desired = clamp(queued + leased + min_ready, 0, max_size)
// counting machines that are (or will be) available, and shrinks it only by draining ready
// machines idle past idle_timeout_s beyond what queued work and min_ready need. Capacity is
// reserved atomically (reserveMachines), so even two leaders could not pass max_size.
import { sql } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import { drainMachine, idleReadyMachines } from '../machinery/index.js';

export interface PoolLoad {
  queued: number;
  leased: number;
  ready: number;
  /** Machines on their way to ready: provisioning, booting, reimaging, and (reimage pools) being recycled. */
  coming: number;
}

export interface ScaleDecision {
  create: number;
  drain: string[];
}

export async function poolLoad(db: Db, pool: PoolRow): Promise<PoolLoad> {
  const recycling = pool.recycle === 'reimage' ? sql`'stopping', 'stopped', 'released'` : sql`NULL`;
  const result = await db.execute(sql`
    SELECT
      (SELECT count(*) FROM tasks WHERE pool = ${pool.name} AND state = 'queued')::int AS queued,
      count(*) FILTER (WHERE state = 'leased')::int AS leased,
      count(*) FILTER (WHERE state = 'ready')::int AS ready,
      count(*) FILTER (WHERE state IN ('provisioning', 'booting', 'reimaging') OR state IN (${recycling}))::int AS coming
    FROM machines WHERE pool = ${pool.name}`);
  const r = result.rows[0] ?? {};
  return { queued: Number(r.queued ?? 0), leased: Number(r.leased ?? 0), ready: Number(r.ready ?? 0), coming: Number(r.coming ?? 0) };
}

export function desiredSize(pool: PoolRow, load: PoolLoad): number {
  if (!pool.active) return 0;
  return Math.max(0, Math.min(pool.maxSize, load.queued + load.leased + pool.minReady));
}

/** How many to create, and which idle machines to drain. */
export async function decide(db: Db, pool: PoolRow, load: PoolLoad, now = new Date()): Promise<ScaleDecision> {
  const supply = load.leased + load.ready + load.coming;
  const create = Math.max(0, desiredSize(pool, load) - supply);
  // Ready machines the queue and min_ready do not need; only those idle long enough go.
  const spare = load.ready - Math.max(pool.active ? pool.minReady : 0, load.queued);
  if (create > 0 || spare <= 0) return { create, drain: [] };
  const idleSince = new Date(now.getTime() - pool.idleTimeoutS * 1000);
  const idle = await idleReadyMachines(db, pool.name, idleSince, spare);
  return { create: 0, drain: idle.map((m) => m.id) };
}

/** Drains the chosen machines; a machine leased in the meantime answers Conflict and stays. */
export async function drainIdle(db: Db, machineIds: string[], actor: string): Promise<string[]> {
  const drained: string[] = [];
  for (const id of machineIds) {
    if ((await drainMachine(db, id, { actor, reason: 'idle past idle_timeout_s' })).ok) drained.push(id);
  }
  return drained;
}
