// API bearer tokens: a random secret shown once at creation; the table keeps only its SHA-256
// (the secret has 256 bits of entropy, so a fast hash is the right one, as for GitHub's tokens).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.js';
import type { ApiTokenRow } from '../../db/schema.js';
import { DEFAULT_TENANT, TOKEN_ROLES, type TokenRole } from '../../db/states.js';
import { getTenant, insertApiToken, listApiTokenPage, listTenants, liveApiTokenByHash, markApiTokenUsed, revokeApiToken } from '../../machinery/index.js';
import { NotFound, UnknownTenant } from './errors.js';
import { pageOf, timeCursor, type Page, type PageRequest } from './pages.js';
import type { Scope } from './service.js';

const PREFIX = 'sf_';

export interface TokenView {
  id: string;
  name: string;
  role: TokenRole;
  tenant: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
}

export const tokenView = (t: ApiTokenRow): TokenView => ({
  id: t.id,
  name: t.name,
  role: t.role as TokenRole,
  tenant: t.tenant,
  created_at: t.createdAt.toISOString(),
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  revoked_at: t.revokedAt?.toISOString() ?? null,
  expires_at: t.expiresAt?.toISOString() ?? null,
});

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

export interface NewToken {
  name: string;
  role: TokenRole;
  /** Its tenant, which must exist (declared in the config); default: the default tenant. */
  tenant?: string | undefined;
  /** It expires so long after now; never without it. */
  expiresInS?: number | null | undefined;
}

/** A new token, shown once. */
export async function createToken(db: Db, request: NewToken): Promise<{ token: string; view: TokenView }> {
  const tenant = request.tenant ?? DEFAULT_TENANT;
  if (!(await getTenant(db, tenant))) throw new UnknownTenant(tenant, (await listTenants(db)).map((t) => t.name));
  const token = PREFIX + randomBytes(32).toString('base64url');
  const row = await insertApiToken(db, { id: randomUUID(), name: request.name, role: request.role, tenant, hash: hashOf(token), expiresInS: request.expiresInS ?? null });
  return { token, view: tokenView(row) };
}

/** A page of tokens, revoked ones included, oldest first; never their secrets. */
export async function listTokens(db: Db, page: PageRequest): Promise<Page<TokenView>> {
  const rows = await listApiTokenPage(db, { limit: page.limit + 1, after: timeCursor.read(page.cursor) });
  return pageOf(rows, page.limit, ({ row }) => tokenView(row), ({ key }) => timeCursor.of(key));
}

export async function revokeToken(db: Db, id: string): Promise<TokenView> {
  const row = await revokeApiToken(db, id);
  if (!row) throw new NotFound('token', id);
  return tokenView(row);
}

/**
 * The unrevoked token a bearer secret names, whether it has expired, and what it may see and
 * submit as, or null. A read only: a refused request changes nothing.
 */
export async function authenticate(db: Db, secret: string): Promise<{ token: ApiTokenRow; expired: boolean; scope: Scope } | null> {
  if (!secret.startsWith(PREFIX) || secret.length > 200) return null;
  const found = await liveApiTokenByHash(db, hashOf(secret));
  if (!found) return null;
  const { token } = found;
  // Submitters see their tenant's tasks only; operators and admins every tenant's.
  const scope = { tenant: { name: token.tenant, maxQueued: found.tenantMaxQueued }, only: token.role === 'submitter' ? token.tenant : null };
  return { token, expired: found.expired, scope };
}

const DURATION_UNITS_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** Tokens live at least a minute and at most ten years. */
export const TOKEN_LIFETIME_S = { min: 60, max: 10 * 365 * 86_400 } as const;

/** `30d`, `12h`, `90m` or `3600s` in seconds, or null when it is none of these or out of range. */
export function parseLifetime(text: string): number | null {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) return null;
  const seconds = Number(match[1]) * DURATION_UNITS_S[match[2]!]!;
  return seconds >= TOKEN_LIFETIME_S.min && seconds <= TOKEN_LIFETIME_S.max ? seconds : null;
}

/** A token's `last_used_at` is at most this stale. */
const NOTE_USE_EVERY_MS = 60_000;

/**
 * Notes that tokens served requests: one conditional write per token per minute and process
 * (the row's own condition keeps it to one a minute across processes), so a busy client's
 * requests cost the database the token's read only.
 */
export class TokenUse {
  private readonly noted = new Map<string, number>();

  constructor(private readonly db: Db) {}

  async note(id: string): Promise<void> {
    const now = performance.now();
    const last = this.noted.get(id);
    if (last !== undefined && now - last < NOTE_USE_EVERY_MS) return;
    this.noted.set(id, now);
    await markApiTokenUsed(this.db, id);
  }
}

/** Roles nest: operator can do what submitter can, admin what operator can. */
export function roleAllows(role: string, needed: TokenRole): boolean {
  return TOKEN_ROLES.indexOf(role as TokenRole) >= TOKEN_ROLES.indexOf(needed);
}
