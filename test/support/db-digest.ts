// A digest of everything a database holds: every row of every table of every schema but the
// system's, each table's rows hashed in a fixed order. Two equal digests mean nothing was written
// in between (a write that leaves a row exactly as it was aside). Tables are found, not listed,
// so a table added later (tenants, the queue's own) is covered without touching this.
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/index.js';

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * One statement that hashes every table; build it once, run it often. No column is left out:
 * `api_tokens.last_used_at` changes on use, but only a request that succeeded counts as a use
 * (server.ts notes it for statuses below 400), so a refused request must leave it alone too.
 */
export async function digestStatement(db: Db): Promise<() => Promise<Record<string, string>>> {
  const tables = (
    await db.execute<{ schema: string; table: string }>(sql`
      SELECT table_schema AS schema, table_name AS "table" FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_toast%'
      ORDER BY 1, 2`)
  ).rows;
  if (tables.length === 0) throw new Error('no tables to digest');
  const parts = tables.map(
    ({ schema, table }) =>
      `SELECT '${`${schema}.${table}`.replace(/'/g, "''")}' AS name, count(*)::text || ':' || md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) AS digest FROM ${ident(schema)}.${ident(table)} r`,
  );
  const statement = sql.raw(parts.join(' UNION ALL '));
  return async () => Object.fromEntries((await db.execute<{ name: string; digest: string }>(statement)).rows.map((r) => [r.name, r.digest]));
}
