// Capacity reservation (rule 2): counting a pool's machines and inserting the `provisioning`
// rows that count allows happen in one transaction under the pool row's lock, so concurrent
// scalers (in one daemon or several) can never take a pool past max_size.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import { machines, pools, type MachineRow } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import { machineEntity } from './transition.js';

export interface Reservation {
  /** The new rows, written before any cloud call: each is the intent to create one instance. */
  machines: MachineRow[];
  /** How many of the requested machines max_size, the global limit, or an inactive pool refused. */
  refused: number;
}

export interface ReserveOptions {
  actor?: string;
  /** A cap on machines across all pools, reserved as atomically as each pool's max_size. */
  globalLimit?: number | undefined;
}

/**
 * The most machines one launch (one cloud create request) holds. Larger reservations are split:
 * a failed or partial launch then costs at most this many machines, and a launch stays far inside
 * EC2's per-account instance burst (1,000).
 */
export const MAX_LAUNCH_SIZE = 100;

/** SQL: a machine's name, made from its pool and id (`sf-<pool>-<12 hex digits of the id>`). */
export const machineName = (pool: SQL, id: SQL) => sql`'sf-' || ${pool} || '-' || left(replace(${id}::text, '-', ''), 12)`;

/** Names the cluster-wide capacity lock among advisory locks. */
const GLOBAL_CAPACITY_LOCK = 0x5a4dcafe;

export async function reserveMachines(db: Db, pool: string, count: number, options: ReserveOptions | string = {}): Promise<Reservation> {
  const { actor = 'scaler', globalLimit } = typeof options === 'string' ? { actor: options } : options;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  return withTransaction(db, async (tx) => {
    // Lock order: the global lock (if any) before the pool row, for every reserver.
    let globalRoom = Number.POSITIVE_INFINITY;
    if (globalLimit !== undefined) {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${GLOBAL_CAPACITY_LOCK})`);
      const all = await tx.execute(sql`SELECT count(*)::int AS n FROM ${machines}`);
      globalRoom = Math.max(0, globalLimit - Number(all.rows[0]?.n ?? 0));
    }
    const locked = await tx.execute(sql`SELECT max_size, active FROM ${pools} WHERE ${pools.name} = ${pool} FOR UPDATE`);
    const limits = locked.rows[0];
    if (!limits) throw new Error(`unknown pool "${pool}"`);
    // Every row counts, `deleting` and `failed` included: their instances may still exist.
    const counted = await tx.execute(sql`SELECT count(*)::int AS n FROM ${machines} WHERE ${machines.pool} = ${pool}`);
    const current = Number(counted.rows[0]?.n ?? 0);
    const room = limits.active ? Math.min(globalRoom, Math.max(0, Number(limits.max_size) - current)) : 0;
    const granted = Math.min(count, room);
    if (granted === 0) return { machines: [], refused: count };
    // Rows reserved together form launches of up to MAX_LAUNCH_SIZE: one cloud request each.
    const inserted = await tx.execute(sql`
      WITH fresh AS (
        SELECT gen_random_uuid() AS id, (n - 1) / ${MAX_LAUNCH_SIZE} AS launch, (n - 1) % ${MAX_LAUNCH_SIZE} AS launch_index
        FROM generate_series(1, ${granted}) n
      ), launches AS (
        SELECT launch, gen_random_uuid() AS launch_id, count(*)::int AS launch_size FROM fresh GROUP BY launch
      ), created AS (
        INSERT INTO ${machines} (id, name, pool, state, launch_id, launch_index, launch_size)
        SELECT id, ${machineName(sql`${pool}`, sql`id`)}, ${pool}, 'provisioning', launch_id, launch_index, launch_size
        FROM fresh JOIN launches USING (launch)
        RETURNING *
      ), logged AS (
        INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason)
        SELECT 'machine', id, pool, NULL, state, ${actor}, 'capacity reserved' FROM created
      )
      SELECT * FROM created ORDER BY created_at, id`);
    return { machines: inserted.rows.map(machineEntity.map), refused: count - granted };
  });
}
