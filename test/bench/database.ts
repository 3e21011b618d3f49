// Throwaway databases for the benchmarks, named sf_bench_* so they are told apart from the test
// suite's sf_test_* (the same pattern as test/support/database.ts, which imports vitest and so
// cannot be loaded outside the test runner). `withBenchDatabase` drops it also on failure.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabaseIfMissing, databaseUrlFromEnv, dropDatabase, migrateDatabase, openDatabase, type Database } from '../../src/db/index.js';
import { migrateQueueSchema } from '../../src/scheduler/queue.js';

export interface BenchDatabase extends Database {
  readonly name: string;
}

export interface BenchDatabaseOptions {
  /** Connections in the pool. Other people's tests share the server's max_connections. */
  max?: number;
  /** Apply sandfleet's migrations (false: an empty database, e.g. for pgbench). */
  schema?: boolean;
  /** Apply BullMQ's PostgreSQL schema as well. */
  queue?: boolean;
}

/** The URL of a database called `name` on the server DATABASE_URL points at. */
export function urlFor(name: string): string {
  const url = new URL(databaseUrlFromEnv());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates `sf_bench_<label>_<random>`, runs `body` with it open, and drops it whatever happens. */
export async function withBenchDatabase<T>(label: string, options: BenchDatabaseOptions, body: (database: BenchDatabase) => Promise<T>): Promise<T> {
  const name = `sf_bench_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const url = urlFor(name);
  let database: Database | undefined;
  try {
    if (options.schema ?? true) await migrateDatabase({ url });
    else await createDatabaseIfMissing(url);
    database = openDatabase({ url, max: options.max ?? 16, applicationName: `sandfleet-bench-${label}` });
    if (options.queue) await migrateQueueSchema(database);
    return await body({ ...database, name });
  } finally {
    await database?.close();
    await untilDisconnected(name);
    await dropDatabase(url, name);
  }
}

/**
 * pg's pool.end() resolves before its sockets have closed. A DROP … WITH (FORCE) in that gap
 * kills those sessions, and BullMQ, which listens on the same pool, prints the FATAL raw: so
 * wait (briefly) for the sessions to go by themselves first.
 */
async function untilDisconnected(name: string, timeoutMs = 5000): Promise<void> {
  const client = new pg.Client({ connectionString: urlFor('postgres') });
  await client.connect();
  try {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
      const result = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      if (result.rows[0]?.n === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.end();
  }
}
