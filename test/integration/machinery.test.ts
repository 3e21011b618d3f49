import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
  allocate,
  beginReimage,
  beginStop,
  cancelTask,
  checkInvariants,
  drainMachine,
  finalizeDelete,
  finishTask,
  getMachine,
  getPool,
  getTask,
  markBooting,
  markFailed,
  markReady,
  markStopped,
  poolLoad,
  releaseMachine,
  requestDelete,
  retireRecycling,
  reserveMachines,
  startTask,
  submitTask,
  syncPools,
} from '../../src/machinery/index.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, poolDefinition, queueTasks, readyMachines, stoppedWithTask } from '../support/fixtures.js';

const t = useTestDatabase('machinery');

async function eventsOf(id: string): Promise<string[]> {
  const r = await t.db.execute(sql`SELECT from_state, to_state FROM events WHERE entity_id = ${id} ORDER BY id`);
  return r.rows.map((e) => `${e.from_state ?? '∅'}→${e.to_state}`);
}

describe('machine transitions', () => {
  it('moves through the delete path with one event per step and a version per event', async () => {
    const pool = await addPool(t.db);
    const { machines } = await reserveMachines(t.db, pool.name, 1);
    const id = machines[0]!.id;
    const a = { actor: 'test' };
    expect((await markBooting(t.db, id, { providerId: 'i-123', ip: '10.1.2.3' }, a)).ok).toBe(true);
    expect((await markReady(t.db, id, a)).ok).toBe(true);
    expect((await drainMachine(t.db, id, a)).ok).toBe(true);
    expect((await beginStop(t.db, id, a)).ok).toBe(true);
    expect((await markStopped(t.db, id, a)).ok).toBe(true);
    const released = await releaseMachine(t.db, { machineId: id, taskId: null }, a);
    expect(released.machine.ok && released.machine.row.uses).toBe(0);
    expect((await requestDelete(t.db, id, a)).ok).toBe(true);
    const gone = await finalizeDelete(t.db, id, a);
    expect(gone.ok && gone.row.providerId).toBe('i-123');
    expect(await getMachine(t.db, id)).toBeNull();
    expect(await eventsOf(id)).toEqual([
      '∅→provisioning',
      'provisioning→booting',
      'booting→ready',
      'ready→draining',
      'draining→stopping',
      'stopping→stopped',
      'stopped→released',
      'released→deleting',
      'deleting→deleted',
    ]);
  });

  it('answers Conflict with the current row for a transition the table does not allow', async () => {
    const pool = await addPool(t.db);
    const [m] = await readyMachines(t.db, pool.name, 1);
    const stop = await markStopped(t.db, m!.id, { actor: 'test' });
    expect(stop.ok).toBe(false);
    if (!stop.ok) expect(stop.current?.state).toBe('ready');
    const missing = await drainMachine(t.db, '00000000-0000-4000-8000-000000000000', { actor: 'test' });
    expect(missing).toEqual({ ok: false, current: null });
  });

  it('refuses a transition when the caller holds an outdated version', async () => {
    const pool = await addPool(t.db);
    const [m] = await readyMachines(t.db, pool.name, 1);
    const stale = await drainMachine(t.db, m!.id, { actor: 'test', expectVersion: m!.version - 1 });
    expect(stale.ok).toBe(false);
    const fresh = await drainMachine(t.db, m!.id, { actor: 'test', expectVersion: m!.version });
    expect(fresh.ok && fresh.row.version).toBe(m!.version + 1);
  });

  it('never deletes a row that is not in deleting', async () => {
    const pool = await addPool(t.db);
    const [m] = await readyMachines(t.db, pool.name, 1);
    const refused = await finalizeDelete(t.db, m!.id, { actor: 'test' });
    expect(refused.ok).toBe(false);
    expect((await getMachine(t.db, m!.id))?.state).toBe('ready');
  });

  it('fails a machine from provisioning and deletes it from failed', async () => {
    const pool = await addPool(t.db);
    const { machines } = await reserveMachines(t.db, pool.name, 1);
    const failed = await markFailed(t.db, machines[0]!.id, 'quota exceeded', { actor: 'test' });
    expect(failed.ok && failed.row.lastError).toBe('quota exceeded');
    expect((await requestDelete(t.db, machines[0]!.id, { actor: 'test' })).ok).toBe(true);
    expect((await finalizeDelete(t.db, machines[0]!.id, { actor: 'test' })).ok).toBe(true);
  });
});

describe('capacity', () => {
  it('reserves no more than max_size, counting every row of the pool', async () => {
    const pool = await addPool(t.db, { maxSize: 5 });
    expect((await reserveMachines(t.db, pool.name, 3)).machines).toHaveLength(3);
    const second = await reserveMachines(t.db, pool.name, 4);
    expect(second.machines).toHaveLength(2);
    expect(second.refused).toBe(2);
    expect((await reserveMachines(t.db, pool.name, 1)).machines).toHaveLength(0);
  });

  it('gives an inactive pool nothing and rejects a bad count', async () => {
    const pool = await addPool(t.db);
    await t.db.execute(sql`UPDATE pools SET active = false WHERE name = ${pool.name}`);
    expect((await reserveMachines(t.db, pool.name, 2)).refused).toBe(2);
    await expect(reserveMachines(t.db, pool.name, -1)).rejects.toThrow(/non-negative/);
    await expect(reserveMachines(t.db, 'no-such-pool', 1)).rejects.toThrow(/unknown pool/);
  });
});

describe('submission', () => {
  it('returns the same task for a repeated idempotency key', async () => {
    const pool = await addPool(t.db);
    const first = await submitTask(t.db, { pool: pool.name, payload: { a: 1 }, idempotencyKey: 'k-1' }, { actor: 'test' });
    const again = await submitTask(t.db, { pool: pool.name, payload: { a: 2 }, idempotencyKey: 'k-1' }, { actor: 'test' });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.task.id).toBe(first.task.id);
    expect(again.task.payload).toEqual({ a: 1 });
  });

  it('creates distinct tasks without a key', async () => {
    const pool = await addPool(t.db);
    const [a, b] = await queueTasks(t.db, pool.name, 2);
    expect(a!.id).not.toBe(b!.id);
  });
});

describe('allocation', () => {
  it('takes the highest priority first, then the oldest', async () => {
    const pool = await addPool(t.db);
    const [low] = await queueTasks(t.db, pool.name, 1, 10);
    const [oldHigh, newHigh] = await queueTasks(t.db, pool.name, 2, 90);
    await readyMachines(t.db, pool.name, 3);
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await allocate(t.db, { pool: pool.name }))!.task.id);
    expect(order).toEqual([oldHigh!.id, newHigh!.id, low!.id]);
    expect(await allocate(t.db, { pool: pool.name })).toBeNull();
  });

  it('starts a task only on the machine still leased to it', async () => {
    const pool = await addPool(t.db);
    await queueTasks(t.db, pool.name, 1);
    await readyMachines(t.db, pool.name, 1);
    const lease = (await allocate(t.db, { pool: pool.name }))!;
    const other = '00000000-0000-4000-8000-000000000002';
    expect((await startTask(t.db, lease.task.id, other, { actor: 'worker' })).ok).toBe(false);
    // The machine was lost before the runner began: nothing new starts on it.
    await beginStop(t.db, lease.machine.id, { actor: 'reconciler', taskId: lease.task.id });
    const late = await startTask(t.db, lease.task.id, lease.machine.id, { actor: 'worker' });
    expect(late.ok).toBe(false);
    if (!late.ok) expect(late.current?.state).toBe('assigned');
  });

  it('answers null when no machine is ready and leaves the task queued', async () => {
    const pool = await addPool(t.db);
    const [task] = await queueTasks(t.db, pool.name, 1);
    expect(await allocate(t.db, { taskId: task!.id })).toBeNull();
    expect((await getTask(t.db, task!.id))?.state).toBe('queued');
  });

  it('leases a machine to a named task and counts the attempt', async () => {
    const pool = await addPool(t.db);
    const [task] = await queueTasks(t.db, pool.name, 1);
    await readyMachines(t.db, pool.name, 1);
    const lease = await allocate(t.db, { taskId: task!.id });
    expect(lease?.task).toMatchObject({ state: 'assigned', attempts: 1, machineId: lease?.machine.id });
    expect(lease?.machine).toMatchObject({ state: 'leased', taskId: task!.id });
    // A leased machine cannot be drained: the scale-down race of the seed reports.
    expect((await drainMachine(t.db, lease!.machine.id, { actor: 'test' })).ok).toBe(false);
  });
});

describe('finishing order: stop, then release, then delete', () => {
  it('records the verdict at stop and the final state at release, incrementing uses', async () => {
    const pool = await addPool(t.db);
    const { machine, task } = await stoppedWithTask(t.db, pool.name);
    expect((await getTask(t.db, task.id))?.state).toBe('running');
    // The row cannot be deleted while it still holds the lease.
    expect((await requestDelete(t.db, machine.id, { actor: 'test' })).ok).toBe(false);
    const released = await releaseMachine(t.db, { machineId: machine.id, taskId: task.id }, { actor: 'test' });
    expect(released.machine.ok && released.machine.row).toMatchObject({ state: 'released', uses: 1, taskId: null });
    expect(released.task).toMatchObject({ state: 'completed', outcome: 'completed' });
    expect(released.task?.finishedAt).toBeInstanceOf(Date);
    const again = await releaseMachine(t.db, { machineId: machine.id, taskId: task.id }, { actor: 'test' });
    expect(again.machine.ok).toBe(false);
  });

  it('marks surplus machines on their way back (oldest first) to be deleted at release, leaving ready and leased ones alone', async () => {
    const pool = await addPool(t.db, { recycle: 'reimage', maxSize: 10 });
    const older = await stoppedWithTask(t.db, pool.name);
    const newer = await stoppedWithTask(t.db, pool.name);
    const [ready] = await readyMachines(t.db, pool.name, 1);
    expect(await retireRecycling(t.db, pool.name, 1, { actor: 'test' })).toBe(1);
    const rows = await Promise.all([older.machine, newer.machine, ready!].map((m) => getMachine(t.db, m.id)));
    expect(rows.map((m) => [m?.state, m?.retireRequested])).toEqual([['stopped', true], ['stopped', false], ['ready', false]]);
    expect(rows[0]?.version).toBe(older.machine.version + 1);
    expect(await eventsOf(older.machine.id)).toContain('stopped→stopped');
    // The autoscaler reads how many are marked, so it asks again only for more.
    expect(await poolLoad(t.db, pool)).toMatchObject({ recycling: 2, retiring: 1, ready: 1 });
    // The one already asked counts: asking for one again asks nobody; for five, the other one, then none.
    expect(await retireRecycling(t.db, pool.name, 1, { actor: 'test' })).toBe(0);
    expect(await retireRecycling(t.db, pool.name, 5, { actor: 'test' })).toBe(1);
    expect(await retireRecycling(t.db, pool.name, 5, { actor: 'test' })).toBe(0);
    const released = await releaseMachine(t.db, { machineId: older.machine.id, taskId: older.task.id }, { actor: 'test' });
    expect(released.machine.ok && released.machine.row.retireRequested).toBe(true);
    expect(await checkInvariants(t.db, { pool: pool.name })).toEqual([]);
  });

  it('requeues a task whose machine was lost while attempts remain, and fails it after', async () => {
    const pool = await addPool(t.db, { recycle: 'reimage' });
    const [task] = await submitTask(t.db, { pool: pool.name, payload: {}, maxAttempts: 2 }, { actor: 't' }).then((s) => [s.task]);
    const [m] = await readyMachines(t.db, pool.name, 1);
    for (const expected of ['queued', 'failed']) {
      const lease = await allocate(t.db, { taskId: task!.id });
      expect(lease?.machine.id).toBe(m!.id);
      // The machine vanished before any verdict: stop it without one, then release.
      await beginStop(t.db, m!.id, { actor: 'reconciler', taskId: task!.id });
      await markStopped(t.db, m!.id, { actor: 'reconciler' });
      const released = await releaseMachine(t.db, { machineId: m!.id, taskId: task!.id }, { actor: 'reconciler' });
      expect(released.task?.state).toBe(expected);
      await beginReimage(t.db, m!.id, { actor: 'test' });
      await markReady(t.db, m!.id, { actor: 'test' });
    }
    expect((await getTask(t.db, task!.id))?.error).toBe('machine lost');
  });

  it('keeps a canceled task canceled when its machine is released later', async () => {
    const pool = await addPool(t.db);
    await queueTasks(t.db, pool.name, 1);
    await readyMachines(t.db, pool.name, 1);
    const lease = (await allocate(t.db, { pool: pool.name }))!;
    await startTask(t.db, lease.task.id, lease.machine.id, { actor: 'worker' });
    const canceled = await cancelTask(t.db, lease.task.id, { actor: 'operator' });
    expect(canceled.kind).toBe('ended');
    expect((await getMachine(t.db, lease.machine.id))?.state).toBe('stopping');
    // The worker, unaware, finishes: its stop loses, and the cancel stands.
    const late = await finishTask(t.db, { machineId: lease.machine.id, taskId: lease.task.id }, { outcome: 'completed' }, { actor: 'worker' });
    expect(late.machine.ok).toBe(false);
    await markStopped(t.db, lease.machine.id, { actor: 'worker' });
    const released = await releaseMachine(t.db, { machineId: lease.machine.id, taskId: lease.task.id }, { actor: 'worker' });
    expect(released.task?.state).toBe('canceled');
    expect(released.machine.ok && released.machine.row.uses).toBe(1);
  });

  it('cancels a queued task at once and returns a terminal task unchanged', async () => {
    const pool = await addPool(t.db);
    const [task] = await queueTasks(t.db, pool.name, 1);
    expect((await cancelTask(t.db, task!.id, { actor: 'op' })).kind).toBe('ended');
    const again = await cancelTask(t.db, task!.id, { actor: 'op' });
    expect(again.kind === 'unchanged' && again.task.state).toBe('canceled');
    expect((await cancelTask(t.db, '00000000-0000-4000-8000-000000000001', { actor: 'op' })).kind).toBe('not_found');
  });
});

describe('pool sync', () => {
  it('upserts configured pools and deactivates those no longer configured', async () => {
    const a = poolDefinition({ name: 'sync-a', maxSize: 3 });
    const b = poolDefinition({ name: 'sync-b' });
    await syncPools(t.db, [a, b]);
    await syncPools(t.db, [{ ...a, maxSize: 7 }]);
    expect(await getPool(t.db, 'sync-a')).toMatchObject({ maxSize: 7, active: true });
    expect(await getPool(t.db, 'sync-b')).toMatchObject({ active: false });
    await expect(syncPools(t.db, [a, a])).rejects.toThrow(/unique/);
  });

  it('rejects a definition the schema forbids, writing nothing', async () => {
    const bad = poolDefinition({ name: 'sync-bad', minReady: 5, maxSize: 2 });
    await expect(syncPools(t.db, [bad])).rejects.toThrow();
    expect(await getPool(t.db, 'sync-bad')).toBeNull();
  });
});

describe('invariant checker', () => {
  it('is clean on what the repository wrote', async () => {
    expect(await checkInvariants(t.db)).toEqual([]);
  });

  it('names the offending rows when a write bypasses the state machine', async () => {
    const pool = await addPool(t.db);
    await queueTasks(t.db, pool.name, 1);
    await readyMachines(t.db, pool.name, 1);
    const lease = (await allocate(t.db, { pool: pool.name }))!;
    // What an unconditional ORM flush would do: flip the task without its machine or its event.
    await t.db.execute(sql`UPDATE tasks SET state = 'completed' WHERE id = ${lease.task.id}`);
    const found = await checkInvariants(t.db);
    expect(found.map((v) => v.invariant).sort()).toEqual(['I1', 'I8']);
    expect(found.flatMap((v) => v.ids)).toContain(lease.machine.id);
    expect(found.flatMap((v) => v.ids)).toContain(lease.task.id);
  });
});
