// Retention: finished tasks and old events are deleted after so many days, in small batches, so
// the tables stop growing. A task goes with its events; a machine's or task's events go once its
// row is gone and all of them are old, all together (the invariant checker reads whole paths, so
// one is never cut). Several daemons may prune at once: each batch is one statement, and rows
// another is deleting are skipped or found gone.
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

/**
 * Deletes the whole history of machines and tasks that no longer have a row and whose every event
 * is older than `days`, up to about `batch` events' worth of entities per statement, oldest
 * first; answers how many events. A history goes at once or not at all: the invariant checker
 * reads a gone entity's history too, and a history missing its start would read as broken.
 */
export async function pruneEvents(ex: Executor, days: number, batch: number): Promise<number> {
  const result = await ex.execute(sql`
    WITH old AS (
      SELECT e.entity_id FROM ${events} e
      WHERE e.at < now() - make_interval(days => ${days}::int)
        AND NOT (e.entity = 'machine' AND EXISTS (SELECT 1 FROM ${machines} m WHERE m.id = e.entity_id))
        AND NOT (e.entity = 'task' AND EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = e.entity_id))
        AND NOT EXISTS (SELECT 1 FROM ${events} recent WHERE recent.entity_id = e.entity_id AND recent.at >= now() - make_interval(days => ${days}::int))
      ORDER BY e.id
      LIMIT ${batch}
    ), deleted AS (
      DELETE FROM ${events} WHERE ${events.entityId} IN (SELECT entity_id FROM old) RETURNING 1
    )
    SELECT count(*)::int AS n FROM deleted`);
  return Number(result.rows[0]?.n ?? 0);
}
