// Seed 001 (CAPEv2: autoscaling deleted a machine's row in stop() before release() updated it,
// leaving tasks `running` forever). 400 tasks run to the end on a pool whose scale-down retires
// every idle machine as soon as it is ready, so allocation and scale-down fight over the same
// rows the whole time. Zero errors, every task terminal, no leased machine drained or deleted,
// and every deleted machine logged stop < release < delete-request < deleted. The twin that
// deletes in stop() leaves tasks stuck and raises StaleDataError.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  allocate,
  beginStop,
  checkInvariants,
  drainMachine,
  finalizeDelete,
  finishTask,
  idleReadyMachines,
  markBooting,
  markReady,
  markStopped,
  releaseMachine,
  requestDelete,
  reserveMachines,
  startTask,
} from '../../src/machinery/index.js';
import { connectionsOpened, prng, runActors } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks } from '../support/fixtures.js';
import { releaseExpectingRow, stopByDeleting } from './naive/delete-in-stop.js';

const TASKS = 400;
const WORKERS = 12;
const SCALERS = 4;
const PROVISIONERS = 2;

const t = useTestDatabase('delete_before_release', WORKERS + SCALERS + PROVISIONERS + 4);

/** How a worker ends a lease, and how scale-down retires an idle machine. */
interface Teardown {
  stopAndRelease(machineId: string, taskId: string): Promise<void>;
  retire(machineId: string): Promise<boolean>;
}

const a = (actor: string) => ({ actor });

/** stop → release → delete record, each a conditional transition. */
async function deleteRecord(machineId: string, actor: string): Promise<void> {
  const requested = await requestDelete(t.db, machineId, a(actor));
  if (!requested.ok) throw new Error(`delete request lost for ${machineId}: ${requested.current?.state}`);
  // The provider delete would be called (and repeated until NotFound) here.
  const gone = await finalizeDelete(t.db, machineId, a(actor));
  if (!gone.ok) throw new Error(`finalizer lost for ${machineId}`);
}

const realTeardown: Teardown = {
  async stopAndRelease(machineId, taskId) {
    if (!(await markStopped(t.db, machineId, a('worker'))).ok) throw new Error(`stop lost for ${machineId}`);
    const released = await releaseMachine(t.db, { machineId, taskId }, a('worker'));
    if (!released.machine.ok) throw new Error(`release lost for ${machineId}`);
    await deleteRecord(machineId, 'worker');
  },
  async retire(machineId) {
    // Conditional on ready: if the allocator got there first, this is a Conflict and we move on.
    if (!(await drainMachine(t.db, machineId, a('scaler'))).ok) return false;
    await beginStop(t.db, machineId, a('scaler'));
    await markStopped(t.db, machineId, a('scaler'));
    await releaseMachine(t.db, { machineId, taskId: null }, a('scaler'));
    await deleteRecord(machineId, 'scaler');
    return true;
  },
};

const naiveTeardown: Teardown = {
  async stopAndRelease(machineId, taskId) {
    await stopByDeleting(t.db, machineId);
    await releaseExpectingRow(t.db, machineId, taskId);
  },
  async retire(machineId) {
    await stopByDeleting(t.db, machineId);
    return true;
  },
};

async function churn(teardown: Teardown) {
  const pool = await addPool(t.db, { maxSize: 24, maxUses: 1, recycle: 'delete' });
  await Promise.all(Array.from({ length: 8 }, () => queueTasks(t.db, pool.name, TASKS / 8)));
  let workersLeft = WORKERS;
  const counts = { served: 0, retired: 0, contested: 0 };
  const queuedLeft = async () =>
    Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool.name} AND state = 'queued'`)).rows[0]?.n);

  const workers = runActors(WORKERS, async (worker, tally) => {
    const random = prng(1001 + worker);
    try {
      while ((await queuedLeft()) > 0) {
        const lease = await allocate(t.db, { pool: pool.name }, `worker-${worker}`);
        if (!lease) continue;
        try {
          await startTask(t.db, lease.task.id, lease.machine.id, a('worker'));
          const verdict = random() < 0.05 ? { outcome: 'failed' as const, error: 'runner failed' } : { outcome: 'completed' as const };
          await finishTask(t.db, { machineId: lease.machine.id, taskId: lease.task.id }, verdict, a('worker'));
          await teardown.stopAndRelease(lease.machine.id, lease.task.id);
          counts.served++;
        } catch (error) {
          tally.errors.push(error);
        }
      }
    } finally {
      workersLeft--;
    }
  });
  const scalers = runActors(SCALERS, async () => {
    while (workersLeft > 0) {
      for (const m of await idleReadyMachines(t.db, pool.name, 0, 2)) {
        if (await teardown.retire(m.id)) counts.retired++;
        else counts.contested++;
      }
    }
  });
  const provisioners = runActors(PROVISIONERS, async () => {
    while (workersLeft > 0) {
      const { machines } = await reserveMachines(t.db, pool.name, 3, 'provisioner');
      for (const m of machines) {
        await markBooting(t.db, m.id, { providerId: `sim-${m.id}` }, a('provisioner'));
        await markReady(t.db, m.id, a('provisioner'));
      }
    }
  });
  const [w, s, p] = await Promise.all([workers, scalers, provisioners]);
  const states = await t.db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ${pool.name} GROUP BY state`);
  // Every transition the actors made is one event: the honest count of operations.
  const events = await t.db.execute(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${pool.name}`);
  return {
    pool,
    counts,
    errors: [...w.errors, ...s.errors, ...p.errors],
    transitions: Number(events.rows[0]?.n),
    taskStates: Object.fromEntries(states.rows.map((r) => [String(r.state), Number(r.n)])),
  };
}

describe('delete before release (seed 001)', () => {
  it('tasks finishing while scale-down retires idle machines: no error, all terminal, stop < release < delete', async () => {
    const r = await churn(realTeardown);
    expect(r.errors).toEqual([]);
    expect(r.transitions).toBeGreaterThanOrEqual(1000);
    expect(r.counts.served).toBe(TASKS);
    expect(r.counts.retired).toBeGreaterThan(0);
    // Scale-down really raced allocation: some drains lost to a lease (a Conflict, not an error).
    expect(r.counts.contested).toBeGreaterThan(0);
    expect(Object.keys(r.taskStates).sort()).toEqual(expect.arrayContaining(['completed']));
    expect((r.taskStates.completed ?? 0) + (r.taskStates.failed ?? 0)).toBe(TASKS);
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);

    // No leased machine was drained or deleted: every drain left `ready`, and every machine
    // that was leased went stop → release → delete-request → deleted after its lease.
    const bad = await t.db.execute(sql`
      SELECT entity_id, from_state, to_state FROM events
      WHERE entity = 'machine' AND pool = ${r.pool.name}
        AND ((to_state = 'draining' AND from_state <> 'ready') OR (from_state = 'leased' AND to_state <> 'stopping'))`);
    expect(bad.rows).toEqual([]);
    const deleted = await t.db.execute(sql`
      SELECT entity_id, array_agg(to_state ORDER BY id) AS path FROM events
      WHERE entity = 'machine' AND pool = ${r.pool.name} GROUP BY entity_id
      HAVING bool_or(to_state = 'deleted')`);
    expect(deleted.rows.length).toBeGreaterThan(TASKS);
    for (const row of deleted.rows) {
      const path = row.path as string[];
      const at = (s: string) => path.lastIndexOf(s);
      expect(at('stopped')).toBeLessThan(at('released'));
      expect(at('released')).toBeLessThan(at('deleting'));
      expect(at('deleting')).toBeLessThan(at('deleted'));
      expect(at('stopped')).toBeGreaterThan(Math.max(at('leased'), at('draining')));
    }
    expect(await checkInvariants(t.db)).toEqual([]);
  });

  it('naive twin: deleting the row in stop() raises StaleDataError and strands tasks', async () => {
    const r = await churn(naiveTeardown);
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.errors.some((e) => (e as Error).name === 'StaleDataError')).toBe(true);
    expect(r.taskStates.running ?? 0).toBeGreaterThan(0);
  });
});
