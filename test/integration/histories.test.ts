// The reads behind "why is it waiting" and "what happened": each waiting reason arranged in the
// tables for real and read back (a page of them in one statement), a task's history naming the
// machine of each attempt, a machine's naming its tasks, and a deleted machine read from its log.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allocate,
  claimLeases,
  finalizeDelete,
  finishTask,
  historyPage,
  machineRecord,
  markDaemonStopped,
  markStopped,
  registerDaemon,
  releaseMachine,
  requestDelete,
  reserveMachines,
  startTask,
  tasksLeasedTo,
  upsertTenant,
  waitingReasons,
  submitTask,
} from '../../src/machinery/index.js';
import { withTransaction } from '../../src/db/transaction.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks, readyMachines } from '../support/fixtures.js';
import { installStatementCounter, readCounts, resetCounts } from '../support/statement-counter.js';

const t = useTestDatabase('histories', 8);
installStatementCounter();
const daemon = { id: randomUUID(), cluster: 'test', host: 'here', pid: 1 };

beforeAll(async () => {
  await registerDaemon(t.db, daemon);
});

const reasonOf = async (id: string, options: { maxMachinesTotal?: number } = {}) => (await waitingReasons(t.db, [id], options)).get(id);

describe('waiting reasons', () => {
  it('machine-ready: a ready machine is there and the task heads its line', async () => {
    const pool = (await addPool(t.db)).name;
    await readyMachines(t.db, pool, 1);
    const [first, second] = await queueTasks(t.db, pool, 2);
    expect(await reasonOf(first!.id)).toBe('machine-ready');
    // Behind it in the line, nothing is ready or coming for the second; the pool can still grow.
    expect(await reasonOf(second!.id)).toBe('waiting-for-machine');
  });

  it('machine-coming for the head of the line while machines boot, waiting-for-machine behind them', async () => {
    const pool = (await addPool(t.db, { maxSize: 3 })).name;
    await reserveMachines(t.db, pool, 2, 'test');
    const [a, b, c] = await queueTasks(t.db, pool, 3);
    expect(await reasonOf(a!.id)).toBe('machine-coming');
    expect(await reasonOf(b!.id)).toBe('machine-coming');
    expect(await reasonOf(c!.id)).toBe('waiting-for-machine');
    // A higher priority goes to the head of the line, and the last of the old line falls out.
    const [urgent] = await queueTasks(t.db, pool, 1, 90);
    expect(await reasonOf(urgent!.id)).toBe('machine-coming');
    expect(await reasonOf(b!.id)).toBe('waiting-for-machine');
  });

  it('machine-coming counts machines recycling in a reimage pool', async () => {
    const pool = (await addPool(t.db, { recycle: 'reimage', maxSize: 1 })).name;
    const [machine] = await readyMachines(t.db, pool, 1);
    await queueTasks(t.db, pool, 1);
    const lease = await allocate(t.db, { pool });
    expect(lease?.machine.id).toBe(machine!.id);
    await finishTask(t.db, { machineId: machine!.id, taskId: lease!.task.id }, { outcome: 'completed' }, { actor: 'test' });
    const [next] = await queueTasks(t.db, pool, 1);
    // stopping, on its way back to ready: coming, though the pool is at its max_size.
    expect(await reasonOf(next!.id)).toBe('machine-coming');
  });

  it('pool-at-max-size: nothing ready or coming and the pool holds max_size machines', async () => {
    const pool = (await addPool(t.db, { maxSize: 1 })).name;
    await readyMachines(t.db, pool, 1);
    await queueTasks(t.db, pool, 1);
    expect(await allocate(t.db, { pool })).not.toBeNull();
    const [waiting] = await queueTasks(t.db, pool, 1);
    expect(await reasonOf(waiting!.id)).toBe('pool-at-max-size');
  });

  it('global-cap: the fleet holds max_machines_total machines (known to the reader only), else waiting-for-machine', async () => {
    const pool = (await addPool(t.db, { maxSize: 5 })).name;
    const [task] = await queueTasks(t.db, pool, 1);
    const fleet = Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM machines`)).rows[0]!.n);
    expect(await reasonOf(task!.id, { maxMachinesTotal: fleet })).toBe('global-cap');
    expect(await reasonOf(task!.id, { maxMachinesTotal: fleet + 1 })).toBe('waiting-for-machine');
    expect(await reasonOf(task!.id)).toBe('waiting-for-machine');
  });

  it('tenant-limit: the tenant has max_running tasks on machines, or its free places go to its tasks ahead', async () => {
    const pool = (await addPool(t.db)).name;
    const tenant = `capped-${randomUUID().slice(0, 6)}`;
    await upsertTenant(t.db, { name: tenant, weight: 1, maxQueued: null, maxRunning: 2 });
    await readyMachines(t.db, pool, 3);
    const submit = () => submitTask(t.db, { pool, payload: {}, tenant }, { actor: 'test' }).then((s) => s.task);
    const first = await submit();
    expect(await allocate(t.db, { taskId: first.id })).not.toBeNull();
    const [second, third] = [await submit(), await submit()];
    // One place free: the second heads the line and takes it; the third waits on its tenant though machines are ready.
    expect(await reasonOf(second.id)).toBe('machine-ready');
    expect(await reasonOf(third.id)).toBe('tenant-limit');
    expect(await allocate(t.db, { taskId: second.id })).not.toBeNull();
    expect(await reasonOf(third.id)).toBe('tenant-limit');
  });

  it('pool-inactive, and no-daemon above every other reason; a task that is not queued has none', async () => {
    const pool = (await addPool(t.db)).name;
    const [task] = await queueTasks(t.db, pool, 1);
    await t.db.execute(sql`UPDATE pools SET active = false WHERE name = ${pool}`);
    expect(await reasonOf(task!.id)).toBe('pool-inactive');

    // A daemon silent past the bound is as gone as a stopped one.
    await t.db.execute(sql`UPDATE daemons SET seen_at = now() - interval '91 seconds' WHERE id = ${daemon.id}`);
    expect(await reasonOf(task!.id)).toBe('no-daemon');
    await t.db.execute(sql`UPDATE daemons SET seen_at = now() WHERE id = ${daemon.id}`);
    expect(await reasonOf(task!.id)).toBe('pool-inactive');
    await markDaemonStopped(t.db, daemon.id);
    expect(await reasonOf(task!.id)).toBe('no-daemon');
    await t.db.execute(sql`UPDATE daemons SET stopped_at = NULL WHERE id = ${daemon.id}`);

    const other = (await addPool(t.db)).name;
    await readyMachines(t.db, other, 1);
    const [leased] = await queueTasks(t.db, other, 1);
    expect(await allocate(t.db, { taskId: leased!.id })).not.toBeNull();
    expect((await waitingReasons(t.db, [leased!.id])).has(leased!.id)).toBe(false);
  });

  it('reads a page of fifty tasks over several pools and tenants in one statement', async () => {
    const pools = [(await addPool(t.db)).name, (await addPool(t.db, { maxSize: 1 })).name];
    await readyMachines(t.db, pools[0]!, 2);
    const ids = [...(await queueTasks(t.db, pools[0]!, 25)), ...(await queueTasks(t.db, pools[1]!, 25))].map((x) => x.id);
    resetCounts();
    const reasons = await waitingReasons(t.db, ids);
    expect(readCounts().statements.sandfleet).toBe(1);
    expect(reasons.size).toBe(50);
    expect([...reasons.values()].filter((r) => r === 'machine-ready')).toHaveLength(2);
  });
});

describe('histories', () => {
  it('names the machine of each attempt in a task history, and the task of each lease in a machine history; a deleted machine is read from its log', async () => {
    const pool = (await addPool(t.db)).name;
    const [task] = await queueTasks(t.db, pool, 1);
    const [m1] = await readyMachines(t.db, pool, 1);
    // The first attempt: a claim, a start, the machine lost (a requeue verdict), stopped and released.
    const first = await withTransaction(t.db, (tx) => claimLeases(tx, pool, 1, 'test'));
    expect(first.map((l) => l.machine.id)).toEqual([m1!.id]);
    await startTask(t.db, task!.id, m1!.id, { actor: 'test' });
    await finishTask(t.db, { machineId: m1!.id, taskId: task!.id }, { outcome: 'requeue' }, { actor: 'test' });
    await markStopped(t.db, m1!.id, { actor: 'test' });
    const released = await releaseMachine(t.db, { machineId: m1!.id, taskId: task!.id }, { actor: 'test' });
    expect(released.task?.state).toBe('queued');
    await requestDelete(t.db, m1!.id, { actor: 'test' });
    expect((await finalizeDelete(t.db, m1!.id, { actor: 'test' })).ok).toBe(true);
    // The second attempt, on another machine, completes.
    const [m2] = await readyMachines(t.db, pool, 1);
    const second = await withTransaction(t.db, (tx) => claimLeases(tx, pool, 1, 'test'));
    expect(second.map((l) => l.machine.id)).toEqual([m2!.id]);
    await startTask(t.db, task!.id, m2!.id, { actor: 'test' });
    await finishTask(t.db, { machineId: m2!.id, taskId: task!.id }, { outcome: 'completed' }, { actor: 'test' });
    await markStopped(t.db, m2!.id, { actor: 'test' });
    await releaseMachine(t.db, { machineId: m2!.id, taskId: task!.id }, { actor: 'test' });

    const history = (await historyPage(t.db, task!.id, { limit: 100 })).reverse();
    expect(history.map((e) => [e.fromState, e.toState, e.machineId])).toEqual([
      [null, 'queued', null],
      ['queued', 'assigned', m1!.id],
      ['assigned', 'running', m1!.id],
      ['running', 'queued', m1!.id],
      ['queued', 'assigned', m2!.id],
      ['assigned', 'running', m2!.id],
      ['running', 'completed', m2!.id],
    ]);
    expect(new Set(history.map((e) => e.taskId))).toEqual(new Set([task!.id]));

    const machineHistory = (await historyPage(t.db, m1!.id, { limit: 100 })).reverse();
    expect(machineHistory.map((e) => [e.toState, e.taskId])).toEqual([
      ['provisioning', null],
      ['booting', null],
      ['ready', null],
      ['leased', task!.id],
      ['stopping', task!.id],
      ['stopped', task!.id],
      ['released', task!.id],
      ['deleting', null],
      ['deleted', null],
    ]);
    // Pages, newest first, continue where the last ended.
    const firstPage = await historyPage(t.db, m1!.id, { limit: 4 });
    const rest = await historyPage(t.db, m1!.id, { limit: 100, before: firstPage.at(-1)!.id });
    expect([...firstPage, ...rest].reverse().map((e) => e.toState)).toEqual(machineHistory.map((e) => e.toState));

    const record = await machineRecord(t.db, m1!.id);
    expect(record).toMatchObject({ id: m1!.id, pool, name: m1!.name, providerId: `sim-${m1!.id}`, ip: '10.0.0.1', uses: 1, lastError: null });
    expect(record!.deletedAt!.getTime()).toBeGreaterThanOrEqual(record!.createdAt.getTime());
    expect(await tasksLeasedTo(t.db, m1!.id, 50)).toEqual([task!.id]);
    expect(await machineRecord(t.db, randomUUID())).toBeNull();
  });
});
