// Machines that failed during a round, by cause: a clean round can still hide a fault sandfleet
// handles wastefully (a machine thrown away for an error that a retry would have cleared).
import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/index.js';

/** "3 (azure create: InternalExecutionError ×2, …)" for machines that went to failed since `since`; '' if none. */
export async function failedMachines(database: Database, since: Date): Promise<string> {
  const result = await database.db.execute(
    sql`SELECT reason FROM events WHERE entity = 'machine' AND to_state = 'failed' AND at >= ${since.toISOString()}::timestamptz`,
  );
  const causes = new Map<string, number>();
  for (const row of result.rows) {
    const cause = causeOf(String(row.reason ?? ''));
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  if (causes.size === 0) return '';
  return `${result.rows.length} (${[...causes].map(([cause, n]) => `${cause} ×${n}`).join(', ')})`;
}

/** The adapter's "<provider> <operation>: <Code>: …" prefix, else the reason's start. */
function causeOf(reason: string): string {
  if (!reason) return 'no reason logged';
  return /^(\w+ [\w.]+: \w+)/.exec(reason)?.[1] ?? reason.slice(0, 60);
}
