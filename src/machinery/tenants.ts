// Tenants are declared in the config and synced into the table by upsert, like pools. A tenant
// left out of the config keeps its row (its tokens and tasks name it) with no weight or limits of
// its own. Admission of a submission under the tenant's queue limit is decided here, under a lock.
import { sql } from 'drizzle-orm';
import type { Db, Executor, Tx } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { tenants, type TenantRow } from '../db/schema.js';
import { DEFAULT_TENANT } from '../db/states.js';
import { withTransaction } from '../db/transaction.js';

export interface TenantDefinition {
  name: string;
  weight: number;
  maxQueued: number | null;
  maxRunning: number | null;
}

const mapTenant = rowMapper(tenants);

/** Upserts every configured tenant; tenants no longer configured go back to weight 1 and no limits. */
export async function syncTenants(db: Db, definitions: readonly TenantDefinition[]): Promise<TenantRow[]> {
  const names = definitions.map((d) => d.name);
  if (new Set(names).size !== names.length) throw new Error('tenant names must be unique');
  // A fixed order: concurrent syncs lock the rows in the same order and cannot deadlock.
  const sorted = [...definitions].sort((a, b) => a.name.localeCompare(b.name));
  return withTransaction(db, async (tx) => {
    await tx.execute(sql`
      UPDATE ${tenants} SET weight = 1, max_queued = NULL, max_running = NULL, updated_at = now()
      WHERE NOT (name = ANY(${sql.param(names)}::text[])) AND (weight <> 1 OR max_queued IS NOT NULL OR max_running IS NOT NULL)`);
    const synced: TenantRow[] = [];
    for (const d of sorted) synced.push(await upsertTenant(tx, d));
    return synced;
  });
}

export async function upsertTenant(ex: Executor, d: TenantDefinition): Promise<TenantRow> {
  const result = await ex.execute(sql`
    INSERT INTO ${tenants} (name, weight, max_queued, max_running) VALUES (${d.name}, ${d.weight}, ${d.maxQueued}, ${d.maxRunning})
    ON CONFLICT (name) DO UPDATE SET weight = EXCLUDED.weight, max_queued = EXCLUDED.max_queued, max_running = EXCLUDED.max_running, updated_at = now()
    RETURNING *`);
  return mapTenant(result.rows[0]!);
}

export async function getTenant(ex: Executor, name: string): Promise<TenantRow | null> {
  const result = await ex.execute(sql`SELECT * FROM ${tenants} WHERE name = ${name}`);
  const row = result.rows[0];
  return row ? mapTenant(row) : null;
}

export async function listTenants(ex: Executor): Promise<TenantRow[]> {
  const result = await ex.execute(sql`SELECT * FROM ${tenants} ORDER BY name`);
  return result.rows.map(mapTenant);
}

/** The tenant every token and task has unless it names another. */
export function defaultTenant(): TenantDefinition {
  return { name: DEFAULT_TENANT, weight: 1, maxQueued: null, maxRunning: null };
}

/** Names the per-tenant queue lock among advisory locks (two-key form: its own key space). */
const QUEUE_LOCK_CLASS = 0x5f1ee8;

/**
 * How many tasks the tenant has queued, counted after taking the tenant's queue turn (held to
 * the commit), and whether `idempotencyKey` already names one of its tasks (a replay is never
 * refused). Submissions of one tenant with a queue limit take turns, so two cannot both take the
 * last place; the count is its own statement, so it sees every submission committed before.
 */
export async function tenantQueue(tx: Tx, tenant: string, idempotencyKey: string | null): Promise<{ queued: number; replay: boolean }> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${QUEUE_LOCK_CLASS}, hashtext(${tenant}))`);
  const result = await tx.execute(sql`
    SELECT (SELECT count(*) FROM tasks WHERE tenant = ${tenant} AND state = 'queued')::int AS queued,
           EXISTS (SELECT 1 FROM tasks WHERE tenant = ${tenant} AND idempotency_key = ${idempotencyKey}) AS replay`);
  const row = result.rows[0] ?? {};
  return { queued: Number(row.queued ?? 0), replay: row.replay === true };
}
