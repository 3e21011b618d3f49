// NAIVE TWIN — never use outside tests. Seed 001 (CAPEv2 Azure/AWS autoscaling): stop() deletes
// the machine's row, and release() — an ORM flush expecting to update one row — then finds
// none, raises StaleDataError, and the task is never finalized.
import { sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/index.js';

export class StaleDataError extends Error {
  override readonly name = 'StaleDataError';
}

export async function stopByDeleting(db: Db, machineId: string): Promise<void> {
  await db.execute(sql`DELETE FROM machines WHERE id = ${machineId}`);
}

export async function releaseExpectingRow(db: Db, machineId: string, taskId: string): Promise<void> {
  const r = await db.execute(sql`UPDATE machines SET state = 'released', task_id = NULL, uses = uses + 1 WHERE id = ${machineId}`);
  if (r.rowCount !== 1) throw new StaleDataError(`UPDATE machines expected to update 1 row(s); 0 were matched`);
  await db.execute(sql`UPDATE tasks SET state = 'completed' WHERE id = ${taskId}`);
}
