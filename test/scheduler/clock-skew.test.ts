// A daemon whose own clock is ten minutes off: the ages and deadlines measured from timestamps
// the database wrote (boot timeout, idle drain, stuck machines, leases without a run job) come
// out as they do with a right clock, because they are measured by the database's clock.
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { databaseNow, idleReadyMachines, leasedTasks, reserveMachines, stuckMachines } from '../../src/machinery/index.js';
import { DatabaseClock } from '../../src/scheduler/database-clock.js';
import { provision } from '../../src/scheduler/lifecycle/provision.js';
import { awaitReady } from '../../src/scheduler/lifecycle/readiness.js';
import { useTestDatabase } from '../support/database.js';
import { testLifecycleContext } from '../support/lifecycle.js';
import { addPool, readyMachines, stoppedWithTask } from '../support/fixtures.js';

const t = useTestDatabase('clock_skew', 8);
const SKEW_MS = 10 * 60_000;

afterEach(() => {
  vi.useRealTimers();
});

describe.each([
  ['ahead', SKEW_MS],
  ['behind', -SKEW_MS],
])('a process clock ten minutes %s of the database', (_, skewMs) => {
  /** From here on the process's Date runs `skewMs` off (and keeps running). */
  const skew = () => vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + skewMs, shouldAdvanceTime: true });

  it('tells the database time within a second', async () => {
    skew();
    const clock = new DatabaseClock(() => databaseNow(t.db));
    const real = (await t.db.execute(sql`SELECT extract(epoch FROM now()) * 1000 AS ms`)).rows[0]!.ms;
    expect(Math.abs((await clock.now()) - Number(real))).toBeLessThan(1000);
    expect(Math.abs(Date.now() - Number(real) - skewMs)).toBeLessThan(1000);
  });

  it('boots a machine within its boot timeout', async () => {
    const pool = (await addPool(t.db, { settings: { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 } })).name;
    const ctx = testLifecycleContext(t.db);
    skew();
    const [m] = (await reserveMachines(t.db, pool, 1)).machines;
    const booting = await provision(ctx, m!);
    expect(booting?.state).toBe('booting');
    // A minute's timeout: ten minutes of skew either way would end it at once, or never.
    expect((await awaitReady(ctx, booting!, { bootTimeoutMs: 60_000 }))?.state).toBe('ready');
  });

  it('finds no machine idle, stuck or lease unattended that has just changed', async () => {
    const pool = (await addPool(t.db, { recycle: 'reimage', maxSize: 4 })).name;
    const { machine } = await stoppedWithTask(t.db, pool);
    const [ready] = await readyMachines(t.db, pool, 1);
    await t.db.execute(sql`UPDATE tasks SET state = 'running', assigned_at = now() WHERE pool = ${pool}`);
    skew();
    const minute = 60_000;
    expect(await stuckMachines(t.db, pool, minute)).toEqual([]);
    expect(await idleReadyMachines(t.db, pool, minute, 10)).toEqual([]);
    expect(await leasedTasks(t.db, pool, minute)).toEqual([]);
    // …and finds them once they are that old by the database's clock.
    await t.db.execute(sql`UPDATE machines SET state_changed_at = now() - interval '2 minutes' WHERE pool = ${pool}`);
    expect((await idleReadyMachines(t.db, pool, minute, 10)).map((m) => m.id)).toEqual([ready!.id]);
    await t.db.execute(sql`UPDATE tasks SET assigned_at = now() - interval '2 minutes' WHERE pool = ${pool}`);
    expect((await stuckMachines(t.db, pool, minute)).map((m) => m.id)).toEqual([machine.id]);
    expect(await leasedTasks(t.db, pool, minute)).toHaveLength(1);
  });
});
