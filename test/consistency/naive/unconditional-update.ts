// NAIVE TWIN — never use outside tests. The ORM flush of seed 000: `UPDATE … WHERE id = $1`
// with no condition on the state the caller saw. Every racer "wins"; the last write stands.
import { sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/index.js';

/** Sets the machine's state by id alone; reports a win whenever the row exists. */
export async function forceMachineState(db: Db, id: string, state: string, taskId?: string | null): Promise<boolean> {
  const r =
    taskId === undefined
      ? await db.execute(sql`UPDATE machines SET state = ${state}, version = version + 1 WHERE id = ${id}`)
      : await db.execute(sql`UPDATE machines SET state = ${state}, version = version + 1, task_id = ${taskId} WHERE id = ${id}`);
  return r.rowCount === 1;
}

export async function forceTaskState(db: Db, id: string, state: string, machineId?: string): Promise<boolean> {
  const r =
    machineId === undefined
      ? await db.execute(sql`UPDATE tasks SET state = ${state}, version = version + 1 WHERE id = ${id}`)
      : await db.execute(sql`UPDATE tasks SET state = ${state}, version = version + 1, machine_id = ${machineId} WHERE id = ${id}`);
  return r.rowCount === 1;
}

/** Release that bumps uses and ends the task without checking the machine still held it. */
export async function forceRelease(db: Db, machineId: string, taskId: string): Promise<boolean> {
  const r = await db.execute(sql`UPDATE machines SET state = 'released', task_id = NULL, uses = uses + 1 WHERE id = ${machineId}`);
  await db.execute(sql`UPDATE tasks SET state = 'completed' WHERE id = ${taskId}`);
  return r.rowCount === 1;
}
