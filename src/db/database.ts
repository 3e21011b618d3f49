// The one place that opens connections: a pg pool with drizzle on top. A process opens one
// Database (the daemon, the CLI); tests open one per throwaway database.
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { PgTransaction } from 'drizzle-orm/pg-core';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import { sql, type ExtractTablesWithRelations } from 'drizzle-orm';
import pg from 'pg';
import * as schema from './schema.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/sandfleet';

export interface DatabaseOptions {
  url?: string;
  /** Connections in the pool. */
  max?: number;
  /** Longest a single statement may run before Postgres cancels it. */
  statementTimeoutMs?: number;
  /** Longest a transaction may sit idle (a stalled client) before Postgres ends the session. */
  idleInTransactionTimeoutMs?: number;
  /** Longest to wait for a connection from the server. */
  connectTimeoutMs?: number;
  applicationName?: string;
}

/**
 * TCP keepalive on every connection, both ways. Our side probes a connection idle this long, so
 * one whose peer vanished (a PostgreSQL host gone, a NAT or firewall that forgot the flow) fails
 * instead of hanging until the OS default of two hours; the server probes us likewise and ends
 * the session (and frees its locks) when this daemon's host is gone.
 */
export const KEEPALIVE = { idleMs: 10_000, serverIdleS: 10, serverIntervalS: 5, serverCount: 3 } as const;

export type Schema = typeof schema;
/** drizzle over the process's pool; `$client` is that pool (transactions check clients out of it). */
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };
export type Tx = PgTransaction<NodePgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a query can run on: the pool or an open transaction. */
export type Executor = Db | Tx;

export interface Database {
  readonly db: Db;
  readonly pool: pg.Pool;
  readonly url: string;
  close(): Promise<void>;
}

/** DATABASE_URL holds something that is not a PostgreSQL URL: said before any connection is tried. */
export class InvalidDatabaseUrl extends Error {
  override readonly name = 'InvalidDatabaseUrl';
  constructor() {
    super('DATABASE_URL is not a PostgreSQL URL; expected postgres://USER@HOST:5432/DATABASE');
  }
}

export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.DATABASE_URL?.trim();
  if (!url) return DEFAULT_DATABASE_URL;
  if (!URL.canParse(url) || !['postgres:', 'postgresql:'].includes(new URL(url).protocol)) throw new InvalidDatabaseUrl();
  return url;
}

export function openDatabase(options: DatabaseOptions = {}): Database {
  const url = options.url ?? databaseUrlFromEnv();
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'sandfleet',
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE.idleMs,
    // Our tables first; then BullMQ's schema, whose functions the PostgreSQL queue backend calls
    // unqualified through this same pool. Then the server's keepalive (ignored on Unix sockets).
    options: [
      '-c search_path=public,bullmq',
      `-c tcp_keepalives_idle=${KEEPALIVE.serverIdleS}`,
      `-c tcp_keepalives_interval=${KEEPALIVE.serverIntervalS}`,
      `-c tcp_keepalives_count=${KEEPALIVE.serverCount}`,
    ].join(' '),
  });
  // An idle client that loses its server (restart, pg_terminate_backend) must not crash the
  // process; the pool drops it and the next checkout opens a fresh one.
  pool.on('error', () => {});
  // A checked-out client (a transaction between statements) that loses its server emits 'error'
  // with nobody listening: that would crash the process. The error also fails the client's
  // next query, the transaction rolls back, and the pool discards the client on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzle({ client: pool, schema });
  let closed = false;
  return {
    db,
    pool,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

/** Resolves once the server answers a trivial query (readiness probes). */
export async function ping(ex: Executor): Promise<void> {
  await ex.execute(sql`SELECT 1`);
}
