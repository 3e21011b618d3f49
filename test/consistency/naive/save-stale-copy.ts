// NAIVE TWIN — never use outside tests. Seed 002: an object from a cache (here: a job payload)
// is modified and saved back whole, as `session.merge(obj)` would, over whatever the row
// became in the meantime.
import { sql } from 'drizzle-orm';
import type { Db, MachineRow } from '../../../src/db/index.js';

export async function saveCopy(db: Db, copy: MachineRow): Promise<boolean> {
  const r = await db.execute(sql`
    UPDATE machines SET state = ${copy.state}, task_id = ${copy.taskId}, uses = ${copy.uses}, version = ${copy.version}
    WHERE id = ${copy.id}`);
  return r.rowCount === 1;
}
