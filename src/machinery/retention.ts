// Retention: finished tasks and old events are deleted after so many days, in small batches, so
// the tables stop growing. A task goes with its events; an event goes once old unless the
// machine or task it belongs to still has its row (the invariant checker reads a live entity's
// whole path, so it is never cut). Several daemons may prune at once: each batch is one
// statement, and rows another is deleting are skipped.
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { events, machines, tasks } from '../db/schema.js';
import { TASK_TERMINAL_STATES } from '../db/states.js';

/** Deletes up to `batch` tasks finished more than `days` ago, oldest first, with their events; answers how many tasks. */
export async function pruneFinishedTasks(ex: Executor, days: number, batch: number): Promise<number> {
  const result = await ex.execute(sql`
    WITH doomed AS (
      SELECT id FROM ${tasks}
      WHERE ${tasks.state} = ANY(${sql.param([...TASK_TERMINAL_STATES])}::text[]) AND ${tasks.finishedAt} < now() - make_interval(days => ${days}::int)
      ORDER BY ${tasks.finishedAt}
      LIMIT ${batch}
      FOR UPDATE SKIP LOCKED
    ), their_events AS (
      DELETE FROM ${events} e USING doomed WHERE e.entity = 'task' AND e.entity_id = doomed.id
    ), deleted AS (
      DELETE FROM ${tasks} t USING doomed WHERE t.id = doomed.id RETURNING 1
    )
    SELECT count(*)::int AS n FROM deleted`);
  return Number(result.rows[0]?.n ?? 0);
}

/** Deletes up to `batch` events older than `days` whose machine or task no longer has a row, oldest first; answers how many. */
export async function pruneEvents(ex: Executor, days: number, batch: number): Promise<number> {
  const result = await ex.execute(sql`
    WITH doomed AS (
      SELECT e.id FROM ${events} e
      WHERE e.at < now() - make_interval(days => ${days}::int)
        AND NOT (e.entity = 'machine' AND EXISTS (SELECT 1 FROM ${machines} m WHERE m.id = e.entity_id))
        AND NOT (e.entity = 'task' AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = e.entity_id))
      ORDER BY e.id
      LIMIT ${batch}
      FOR UPDATE SKIP LOCKED
    ), deleted AS (
      DELETE FROM ${events} USING doomed WHERE ${events.id} = doomed.id RETURNING 1
    )
    SELECT count(*)::int AS n FROM deleted`);
  return Number(result.rows[0]?.n ?? 0);
}
