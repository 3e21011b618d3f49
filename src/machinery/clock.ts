// The database's clock. Timestamps in the tables are the database's now(), so an age or a
// deadline is measured against it too: a daemon whose own clock is minutes off then drains,
// reconciles and times out boots exactly as one whose clock is right.
import { sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/database.js';

/** A duration in milliseconds as an SQL interval, for `now() - ago(ms)`. */
export function ago(ms: number): SQL {
  return sql`make_interval(secs => ${Math.max(0, ms) / 1000}::float8)`;
}

/** The database's current time. */
export async function databaseNow(ex: Executor): Promise<Date> {
  const result = await ex.execute(sql`SELECT now() AS now`);
  const now = result.rows[0]?.now;
  return now instanceof Date ? now : new Date(String(now));
}
