// `sandfleet migrate`: creates the database if missing, then applies migrations/ under an
// advisory lock, so any number of processes may run it at once and end with one schema.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { DatabaseUnavailableError, SQLSTATE, sqlState } from './errors.js';

export const MIGRATIONS_FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
// An arbitrary constant naming "sandfleet schema migration" among advisory locks.
const MIGRATION_LOCK_KEY = 0x5a4df1ee7;

export interface MigrateOptions {
  url: string;
  createDatabase?: boolean;
  migrationsFolder?: string;
}

export async function migrateDatabase(options: MigrateOptions): Promise<void> {
  if (options.createDatabase ?? true) await createDatabaseIfMissing(options.url);
  const client = new pg.Client({ connectionString: options.url, application_name: 'sandfleet-migrate' });
  await connectOrExplain(client, options.url);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await migrate(drizzle({ client }), {
      migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER,
      migrationsSchema: 'sandfleet_meta',
      migrationsTable: 'migrations',
    });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** Creates the URL's database through the server's `postgres` database; a concurrent creator is fine. */
export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`DATABASE_URL ${target.origin} names no database`);
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString(), application_name: 'sandfleet-migrate' });
  await connectOrExplain(client, url);
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return false;
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } catch (error) {
    const code = sqlState(error);
    if (code === SQLSTATE.duplicateDatabase || code === SQLSTATE.uniqueViolation) return false;
    throw error;
  } finally {
    await client.end();
  }
}

export async function dropDatabase(url: string, name: string): Promise<void> {
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await connectOrExplain(client, url);
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function connectOrExplain(client: pg.Client, url: string): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    // A missing database is the caller's to handle; everything else means no server.
    if (sqlState(error) === SQLSTATE.invalidCatalogName) throw error;
    throw new DatabaseUnavailableError(url, error);
  }
}
