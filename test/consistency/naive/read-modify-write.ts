// NAIVE TWIN — never use outside tests. The ORM habit of the seed reports (004, 000): load the
// row, decide in memory, write the computed values back by id. Every write "succeeds", so two
// racers both believe they made the same transition and the counter keeps only one increment.
import { sql } from 'drizzle-orm';
import type { Db, MachineRow } from '../../../src/db/index.js';
import type { LifecycleSteps, StepResult } from '../lifecycle-steps.js';

export function readModifyWriteSteps(db: Db): LifecycleSteps {
  const save = async (seen: MachineRow, state: string, changes: { uses?: number; taskId?: string | null } = {}): Promise<StepResult> => {
    const r = await db.execute(sql`
      UPDATE machines SET state = ${state}, version = ${seen.version + 1}, uses = ${changes.uses ?? seen.uses},
        task_id = ${changes.taskId === undefined ? seen.taskId : changes.taskId}
      WHERE id = ${seen.id}`);
    const won = r.rowCount === 1;
    return { machineId: seen.id, won, machineChanged: won, servedTask: won && state === 'released' && seen.taskId !== null };
  };
  return {
    async lease(pool) {
      const m = (await db.execute(sql`SELECT * FROM machines WHERE pool = ${pool} AND state = 'ready' LIMIT 1`)).rows[0];
      const t = (await db.execute(sql`SELECT id FROM tasks WHERE pool = ${pool} AND state = 'queued' LIMIT 1`)).rows[0];
      if (!m || !t) return { machineId: null, won: false, machineChanged: false, servedTask: false };
      await db.execute(sql`UPDATE tasks SET state = 'assigned', machine_id = ${String(m.id)} WHERE id = ${String(t.id)}`);
      return save(rowOf(m), 'leased', { taskId: String(t.id) });
    },
    async start(seen, task) {
      await db.execute(sql`UPDATE tasks SET state = 'running' WHERE id = ${task.id}`);
      return { machineId: seen.id, won: true, machineChanged: false, servedTask: false };
    },
    finish: (seen) => save(seen, 'stopping'),
    stop: (seen) => save(seen, 'stopped'),
    async release(seen) {
      if (seen.taskId) await db.execute(sql`UPDATE tasks SET state = 'completed' WHERE id = ${seen.taskId}`);
      return save(seen, 'released', { uses: seen.uses + (seen.taskId ? 1 : 0), taskId: null });
    },
    reimage: (seen) => save(seen, 'reimaging'),
    ready: (seen) => save(seen, 'ready'),
  };
}

function rowOf(raw: Record<string, unknown>): MachineRow {
  return { ...(raw as unknown as MachineRow), id: String(raw.id), version: Number(raw.version), uses: Number(raw.uses), taskId: raw.task_id as string | null };
}
