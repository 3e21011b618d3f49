// Pools are declared in the config file and synced into the table by upsert (rule 3): any
// number of daemons may sync at once and each pool still has exactly one row.
import { sql } from 'drizzle-orm';
import type { Db, Executor } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { pools, type PoolRow } from '../db/schema.js';
import type { Platform, ProviderName, RecycleMode } from '../db/states.js';
import { withTransaction } from '../db/transaction.js';

export interface PoolDefinition {
  name: string;
  provider: ProviderName;
  settings: Record<string, unknown>;
  platform: Platform;
  arch: string;
  tags: string[];
  minReady: number;
  maxSize: number;
  maxUses: number | null;
  idleTimeoutS: number;
  recycle: RecycleMode;
  /** Runner settings (`{ kind: 'sim' | 'command', ... }`); validated by the scheduler. Default: sim. */
  runner?: Record<string, unknown>;
  /** Readiness settings (boot timeout, probe); validated by the scheduler. Default: none. */
  readiness?: Record<string, unknown>;
  /** Scaling policy and its settings (`{ policy, ... }`); validated by the scheduler. Default: the forecasting policy. */
  autoscale?: Record<string, unknown>;
  /** What one machine costs per hour, for reports (pool views, the economics benchmark). Default: not given. */
  pricePerHour?: number | null;
}

const mapPool = rowMapper(pools);

/** Upserts every configured pool and deactivates the ones no longer configured. */
export async function syncPools(db: Db, definitions: readonly PoolDefinition[]): Promise<PoolRow[]> {
  const names = definitions.map((d) => d.name);
  if (new Set(names).size !== names.length) throw new Error('pool names must be unique');
  // A fixed order means concurrent syncs lock the rows in the same order and cannot deadlock.
  const sorted = [...definitions].sort((a, b) => a.name.localeCompare(b.name));
  return withTransaction(db, async (tx) => {
    const synced: PoolRow[] = [];
    for (const d of sorted) synced.push(await upsertPool(tx, d));
    await tx.execute(sql`
      UPDATE ${pools} SET active = false, updated_at = now()
      WHERE active AND NOT (${pools.name} = ANY(${sql.param(names)}::text[]))`);
    return synced;
  });
}

/** Inserts the pool or brings its row up to the definition; concurrent callers end with one row. */
export async function upsertPool(ex: Executor, d: PoolDefinition): Promise<PoolRow> {
  const result = await ex.execute(sql`
    INSERT INTO ${pools} (name, provider, settings, platform, arch, tags, min_ready, max_size, max_uses, idle_timeout_s, recycle, runner, readiness, autoscale, price_per_hour, active)
    VALUES (${d.name}, ${d.provider}, ${JSON.stringify(d.settings)}::jsonb, ${d.platform}, ${d.arch}, ${sql.param(d.tags)}::text[],
            ${d.minReady}, ${d.maxSize}, ${d.maxUses}, ${d.idleTimeoutS}, ${d.recycle},
            ${JSON.stringify(d.runner ?? { kind: 'sim' })}::jsonb, ${JSON.stringify(d.readiness ?? {})}::jsonb, ${JSON.stringify(d.autoscale ?? {})}::jsonb, ${d.pricePerHour ?? null}, true)
    ON CONFLICT (name) DO UPDATE SET
      provider = EXCLUDED.provider, settings = EXCLUDED.settings, platform = EXCLUDED.platform, arch = EXCLUDED.arch,
      tags = EXCLUDED.tags, min_ready = EXCLUDED.min_ready, max_size = EXCLUDED.max_size, max_uses = EXCLUDED.max_uses,
      idle_timeout_s = EXCLUDED.idle_timeout_s, recycle = EXCLUDED.recycle,
      runner = EXCLUDED.runner, readiness = EXCLUDED.readiness, autoscale = EXCLUDED.autoscale, price_per_hour = EXCLUDED.price_per_hour, active = true, updated_at = now()
    RETURNING *`);
  const row = result.rows[0];
  if (!row) throw new Error(`upsert of pool ${d.name} returned no row`);
  return mapPool(row);
}

export async function getPool(ex: Executor, name: string): Promise<PoolRow | null> {
  const result = await ex.execute(sql`SELECT * FROM ${pools} WHERE ${pools.name} = ${name}`);
  const row = result.rows[0];
  return row ? mapPool(row) : null;
}

export async function listPools(ex: Executor): Promise<PoolRow[]> {
  const result = await ex.execute(sql`SELECT * FROM ${pools} ORDER BY ${pools.name}`);
  return result.rows.map(mapPool);
}

/** A page of pools by name, after the pool named `after`. */
export async function listPoolPage(ex: Executor, page: { limit: number; after?: string | undefined }): Promise<PoolRow[]> {
  const result = await ex.execute(sql`
    SELECT * FROM ${pools} WHERE ${page.after === undefined ? sql`true` : sql`${pools.name} > ${page.after}`}
    ORDER BY ${pools.name} LIMIT ${page.limit}`);
  return result.rows.map(mapPool);
}
