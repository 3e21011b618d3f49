// The rate limit per provider account, shared by every daemon: a token bucket in one row per
// account. Taking a token is one conditional upsert (rule 1): the refill and the take are computed
// from the row as locked, so concurrent takers can never spend the same token.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Most tokens a bucket holds: the burst allowed after a quiet spell. */
  burst: number;
}

export type TokenGrant = { granted: true } | { granted: false; retryInMs: number };

export async function takeToken(ex: Executor, account: string, limit: RateLimit, count = 1): Promise<TokenGrant> {
  if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new RangeError(`rate limit for ${account} needs perSecond > 0 and burst >= 1`);
  // More than the bucket holds would wait forever: the caller must split the request.
  if (!(count >= 1) || count > limit.burst) throw new RangeError(`${count} tokens of ${account} asked at once; its bucket holds ${limit.burst}`);
  // clock_timestamp(), not now(): a statement that waited on the row lock must not count the wait twice.
  const refilled = sql`LEAST(${limit.burst}::float8, rate_buckets.tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - rate_buckets.updated_at)) * ${limit.perSecond}::float8)`;
  const taken = await ex.execute(sql`
    INSERT INTO rate_buckets (account, tokens, updated_at) VALUES (${account}, ${limit.burst - count}::float8, clock_timestamp())
    ON CONFLICT (account) DO UPDATE SET tokens = ${refilled} - ${count}::float8, updated_at = clock_timestamp()
    WHERE ${refilled} >= ${count}::float8
    RETURNING tokens`);
  if (taken.rows.length > 0) return { granted: true };
  const current = await ex.execute(sql`
    SELECT LEAST(${limit.burst}::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - updated_at)) * ${limit.perSecond}::float8) AS tokens
    FROM rate_buckets WHERE account = ${account}`);
  const tokens = Number(current.rows[0]?.tokens ?? 0);
  return { granted: false, retryInMs: Math.max(1, Math.ceil(((count - tokens) / limit.perSecond) * 1000)) };
}
