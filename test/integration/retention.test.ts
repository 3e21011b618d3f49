// Retention: finished tasks past tasks_days go with their events, in batches; events past
// events_days go unless their machine or task still has a row; what is left still satisfies
// every invariant.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { pruneOnce } from '../../src/daemon/retention.js';
import { checkInvariants, submitTask } from '../../src/machinery/index.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, releaseMachine, stoppedWithTask } from '../support/fixtures.js';

const t = useTestDatabase('retention', 8);
const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);
const eventsOf = (id: string) => count(sql`SELECT count(*)::int AS n FROM events WHERE entity_id = ${id}`);

describe('retention', () => {
  it('prunes finished tasks with their events and old events of what is gone, never a live row\'s', async () => {
    const pool = (await addPool(t.db, { recycle: 'reimage', maxSize: 10 })).name;
    // Tasks end when their machine is released.
    const finished = async () => {
      const stopped = await stoppedWithTask(t.db, pool);
      await releaseMachine(t.db, { machineId: stopped.machine.id, taskId: stopped.task.id }, { actor: 'test' });
      return stopped;
    };
    const old = await Promise.all([1, 2, 3].map(finished));
    const recent = await finished();
    const { task: waiting } = await submitTask(t.db, { pool, payload: {} }, { actor: 'test' });
    const oldIds = old.map((o) => o.task.id);
    await t.db.execute(sql`UPDATE tasks SET finished_at = now() - interval '31 days' WHERE id = ANY(${sql.param(oldIds)}::uuid[])`);
    // A task still waiting, however old, and its events, stay.
    await t.db.execute(sql`UPDATE tasks SET created_at = now() - interval '200 days' WHERE id = ${waiting.id}`);
    // Every event is old now: the live machines', the waiting task's, and a machine's long gone.
    const gone = randomUUID();
    await t.db.execute(sql`INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor) VALUES ('machine', ${gone}, ${pool}, 'deleting', 'deleted', 'test')`);
    await t.db.execute(sql`UPDATE events SET at = now() - interval '91 days' WHERE pool = ${pool}`);
    // A machine gone whose history began long ago but ended recently keeps it whole.
    const partly = randomUUID();
    await t.db.execute(sql`INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, at) VALUES
      ('machine', ${partly}, 'elsewhere', NULL, 'provisioning', 'test', now() - interval '200 days'),
      ('machine', ${partly}, 'elsewhere', 'deleting', 'deleted', 'test', now() - interval '1 day')`);
    const machineEvents = await Promise.all([...old, recent].map((o) => eventsOf(o.machine.id)));
    expect(Math.min(...machineEvents)).toBeGreaterThan(0);

    // Batches of 2: the three old tasks take two batches.
    expect(await pruneOnce(t.db, { tasksDays: 30, eventsDays: 90 }, 2)).toEqual({ tasks: 3, events: 1 });
    expect(await count(sql`SELECT count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(oldIds)}::uuid[])`)).toBe(0);
    for (const id of oldIds) expect(await eventsOf(id)).toBe(0);
    expect(await eventsOf(gone)).toBe(0);
    expect(await eventsOf(partly)).toBe(2);
    // Kept: the recent task, the waiting one, and every live machine's whole history.
    expect(await eventsOf(recent.task.id)).toBeGreaterThan(0);
    expect(await eventsOf(waiting.id)).toBeGreaterThan(0);
    expect(await Promise.all([...old, recent].map((o) => eventsOf(o.machine.id)))).toEqual(machineEvents);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
    // Nothing more to do.
    expect(await pruneOnce(t.db, { tasksDays: 30, eventsDays: 90 }, 2)).toEqual({ tasks: 0, events: 0 });
  });
});
