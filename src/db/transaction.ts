// The one transaction helper: every multi-statement write goes through it. Serialization
// failures and deadlocks are retried a bounded number of times with jittered backoff; the
// callback must therefore be safe to run again (it only talks to the database).
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Db, Tx } from './database.js';
import { isRetryableTransactionError } from './errors.js';
import * as schema from './schema.js';

export interface TransactionOptions {
  isolationLevel?: 'read committed' | 'repeatable read' | 'serializable';
  accessMode?: 'read only' | 'read write';
  /** Attempts in all, including the first. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class TransactionRetriesExhaustedError extends Error {
  override readonly name = 'TransactionRetriesExhaustedError';
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`transaction failed after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** Full-jitter exponential backoff: spreads retrying peers apart so they do not collide again. */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

export async function withTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 8;
  const config = { isolationLevel: options.isolationLevel ?? 'read committed', accessMode: options.accessMode };
  for (let attempt = 1; ; attempt++) {
    try {
      return await onOwnClient(db, (session) => session.transaction(work, config));
    } catch (error) {
      if (!isRetryableTransactionError(error)) throw error;
      if (attempt >= maxAttempts) throw new TransactionRetriesExhaustedError(attempt, error);
      const delay = backoffDelayMs(attempt, options.baseDelayMs ?? 5, options.maxDelayMs ?? 250);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** One drizzle session per physical connection, made on first use. */
const sessions = new WeakMap<pg.PoolClient, NodePgDatabase<typeof schema>>();

/**
 * Runs `run` on a client checked out of the pool here and released here whatever happens.
 * drizzle (0.45) checks the client out itself but sends BEGIN outside its try/finally, so a
 * connection lost at BEGIN never goes back to the pool: each such loss leaks a slot until the
 * pool is exhausted and the process stops working (chaos: ~17 PostgreSQL restarts; upstream:
 * drizzle-team/drizzle-orm#6023, #6241, open). pg-pool discards a client whose connection is
 * broken when it is released.
 */
async function onOwnClient<T>(db: Db, run: (session: NodePgDatabase<typeof schema>) => Promise<T>): Promise<T> {
  const client = await db.$client.connect();
  try {
    let session = sessions.get(client);
    if (!session) sessions.set(client, (session = drizzle({ client, schema })));
    return await run(session);
  } finally {
    client.release();
  }
}
