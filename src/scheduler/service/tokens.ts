// API bearer tokens: a random secret shown once at creation; the table keeps only its SHA-256
// (the secret has 256 bits of entropy, so a fast hash is the right one, as for GitHub's tokens).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from '../../db/database.js';
import { rowMapper } from '../../db/rows.js';
import { apiTokens, type ApiTokenRow } from '../../db/schema.js';
import { TOKEN_ROLES, type TokenRole } from '../../db/states.js';
import { NotFound } from './errors.js';

const mapToken = rowMapper(apiTokens);
const PREFIX = 'sf_';

export interface TokenView {
  id: string;
  name: string;
  role: TokenRole;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export const tokenView = (t: ApiTokenRow): TokenView => ({
  id: t.id,
  name: t.name,
  role: t.role as TokenRole,
  created_at: t.createdAt.toISOString(),
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  revoked_at: t.revokedAt?.toISOString() ?? null,
});

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

export async function createToken(db: Db, name: string, role: TokenRole): Promise<{ token: string; view: TokenView }> {
  const token = PREFIX + randomBytes(32).toString('base64url');
  const result = await db.execute(sql`
    INSERT INTO ${apiTokens} (id, name, role, hash) VALUES (${randomUUID()}, ${name}, ${role}, ${hashOf(token)}) RETURNING *`);
  return { token, view: tokenView(mapToken(result.rows[0]!)) };
}

export async function listTokens(db: Db): Promise<TokenView[]> {
  const result = await db.execute(sql`SELECT * FROM ${apiTokens} ORDER BY created_at, id`);
  return result.rows.map((r) => tokenView(mapToken(r)));
}

export async function revokeToken(db: Db, id: string): Promise<TokenView> {
  const result = await db.execute(sql`
    UPDATE ${apiTokens} SET revoked_at = coalesce(revoked_at, now()) WHERE id = ${id} RETURNING *`);
  const row = result.rows[0];
  if (!row) throw new NotFound('token', id);
  return tokenView(mapToken(row));
}

/** The live token a bearer secret names, or null. A read only: a refused request changes nothing. */
export async function authenticate(db: Db, secret: string): Promise<ApiTokenRow | null> {
  if (!secret.startsWith(PREFIX) || secret.length > 200) return null;
  const result = await db.execute(sql`SELECT * FROM ${apiTokens} WHERE hash = ${hashOf(secret)} AND revoked_at IS NULL`);
  const row = result.rows[0];
  return row ? mapToken(row) : null;
}

/** Notes that a token served a request, at most once a minute (one conditional statement). */
export async function noteTokenUse(db: Db, id: string): Promise<void> {
  await db.execute(sql`
    UPDATE ${apiTokens} SET last_used_at = now()
    WHERE id = ${id} AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`);
}

/** Roles nest: operator can do what submitter can, admin what operator can. */
export function roleAllows(role: string, needed: TokenRole): boolean {
  return TOKEN_ROLES.indexOf(role as TokenRole) >= TOKEN_ROLES.indexOf(needed);
}
