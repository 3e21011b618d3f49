// API token rows: created, listed, revoked, found by the hash of their secret, and marked used.
// This module sees hashes only; making a secret and hashing it is the service's
// (src/scheduler/service/tokens.ts).
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { rowMapper } from '../db/rows.js';
import { apiTokens, tenants, type ApiTokenRow } from '../db/schema.js';
import type { TokenRole } from '../db/states.js';
import { idRange } from './id-prefix.js';
import { afterKey, exactTime, timeKeyOf, type Keyed, type TimeKey } from './keyset.js';

const mapToken = rowMapper(apiTokens);

/** A new token; one that expires does so `expiresInS` after now by the database's clock. */
export async function insertApiToken(ex: Executor, token: { id: string; name: string; role: TokenRole; tenant: string; hash: string; expiresInS: number | null }): Promise<ApiTokenRow> {
  const result = await ex.execute(sql`
    INSERT INTO ${apiTokens} (id, name, role, tenant, hash, expires_at)
    VALUES (${token.id}, ${token.name}, ${token.role}, ${token.tenant}, ${token.hash}, now() + make_interval(secs => ${token.expiresInS}::float8))
    RETURNING *`);
  return mapToken(result.rows[0]!);
}

/** A page of tokens, revoked ones included, oldest first (`created_at`, then `id`), each with its page key. */
export async function listApiTokenPage(ex: Executor, page: { limit: number; after?: TimeKey | undefined }): Promise<Keyed<ApiTokenRow>[]> {
  const result = await ex.execute(sql`
    SELECT *, ${exactTime(apiTokens.createdAt)} AS page_at FROM ${apiTokens}
    WHERE ${afterKey(apiTokens.createdAt, apiTokens.id, page.after, 'asc')}
    ORDER BY created_at, id LIMIT ${page.limit}`);
  return result.rows.map((raw) => ({ row: mapToken(raw), key: timeKeyOf(raw) }));
}

/** Ids of the tokens starting with these hex digits, lowest first, at most `limit`: a range scan of the primary key. */
export async function apiTokenIdsWithPrefix(ex: Executor, digits: string, limit: number): Promise<string[]> {
  const { low, high } = idRange(digits);
  const result = await ex.execute(sql`SELECT id FROM ${apiTokens} WHERE id BETWEEN ${low}::uuid AND ${high}::uuid ORDER BY id LIMIT ${limit}`);
  return result.rows.map((r) => String(r.id));
}

/** Revokes a token (revoking again keeps the first time); null if there is no such token. */
export async function revokeApiToken(ex: Executor, id: string): Promise<ApiTokenRow | null> {
  const result = await ex.execute(sql`
    UPDATE ${apiTokens} SET revoked_at = coalesce(revoked_at, now()) WHERE id = ${id} RETURNING *`);
  const row = result.rows[0];
  return row ? mapToken(row) : null;
}

/** The token with this hash, unless it is revoked, whether it has expired by the database's clock, and its tenant's queue limit. */
export async function liveApiTokenByHash(ex: Executor, hash: string): Promise<{ token: ApiTokenRow; expired: boolean; tenantMaxQueued: number | null } | null> {
  const result = await ex.execute(sql`SELECT t.*, t.expires_at <= now() AS expired, n.max_queued AS n_max FROM ${apiTokens} t
    JOIN ${tenants} n ON n.name = t.tenant WHERE t.hash = ${hash} AND t.revoked_at IS NULL`);
  const row = result.rows[0];
  if (!row) return null;
  return { token: mapToken(row), expired: row.expired === true, tenantMaxQueued: row.n_max === null ? null : Number(row.n_max) };
}

/** Notes that a token served a request, at most once a minute (one conditional statement). */
export async function markApiTokenUsed(ex: Executor, id: string): Promise<void> {
  await ex.execute(sql`
    UPDATE ${apiTokens} SET last_used_at = now()
    WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`);
}
