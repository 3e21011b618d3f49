// Idle agents' marks: one statement renews every machine still idle and forgets those that
// went away or were leased meanwhile, and a lease announced after a mark is never hidden by it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdleMarks } from '../../src/scheduler/agent/idle-marks.js';
import { LeaseNotices } from '../../src/scheduler/agent/lease-notices.js';
import { allocate, drainMachine } from '../../src/machinery/index.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks, readyMachines } from '../support/fixtures.js';
import { installStatementCounter, readCounts, resetCounts } from '../support/statement-counter.js';
import { until } from '../support/until.js';

const t = useTestDatabase('idle_marks', 8);
installStatementCounter();

let notices: LeaseNotices;
let idle: IdleMarks;
beforeAll(async () => {
  notices = new LeaseNotices(t);
  // Any wait starts the LISTEN connection; marks exist only while it listens.
  notices.waitFor('00000000-0000-0000-0000-000000000000', 1).cancel();
  await until(() => Promise.resolve(notices.mark() !== null), 10_000);
  idle = new IdleMarks(t.db, notices, 3_600_000);
});
afterAll(async () => {
  idle?.close();
  await notices?.close();
});

describe('idle marks', () => {
  it('renews the idle machines in one statement and forgets a drained one and a leased one', async () => {
    await addPool(t.db, { name: 'agents' });
    const machines = await readyMachines(t.db, 'agents', 3);
    for (const m of machines) idle.found(m.id, notices.mark());
    expect(machines.map((m) => idle.quiet(m.id))).toEqual([true, true, true]);

    const drained = machines[0]!;
    expect((await drainMachine(t.db, drained.id, { actor: 'test' })).ok).toBe(true);
    await queueTasks(t.db, 'agents', 1);
    const leased = (await allocate(t.db, { pool: 'agents' }))!.machine;
    const kept = machines.find((m) => m.id !== drained.id && m.id !== leased.id)!;
    // The lease is announced: its machine's mark stops being trusted as soon as the notice is heard.
    await until(() => Promise.resolve(!idle.quiet(leased.id)), 10_000);
    expect(idle.quiet(drained.id)).toBe(true);

    resetCounts();
    await idle.refresh();
    expect(readCounts().statements.sandfleet).toBe(1);
    expect(idle.size).toBe(1);
    expect(idle.quiet(kept.id)).toBe(true);
    // The drained machine's agent reads the table on its next poll (and is told its credential expired).
    expect(idle.quiet(drained.id)).toBe(false);
  });
});
