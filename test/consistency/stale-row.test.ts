// Seed 000 (stale row: an update that finds the row changed under it). Actors race for the
// same rows: lease vs drain, release vs release, finish vs cancel. Exactly one wins each race,
// every loser gets a typed Conflict, and nothing throws. The unconditional-update twin lets
// several "win" the same race.
import { describe, expect, it } from 'vitest';
import type { MachineRow, TaskRow } from '../../src/db/index.js';
import {
  allocate,
  cancelTask,
  checkInvariants,
  drainMachine,
  finishTask,
  getMachine,
  getTask,
  markStopped,
  releaseMachine,
  startTask,
} from '../../src/machinery/index.js';
import { connectionsOpened, runActors } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks, readyMachines, stoppedWithTask } from '../support/fixtures.js';
import { until } from '../support/until.js';
import { forceMachineState, forceRelease, forceTaskState } from './naive/unconditional-update.js';

const ROUNDS = 32;
const PER_ROUND = 16;

const t = useTestDatabase('stale_row', 36);

interface RaceOutcome {
  /** How many racers were told they won, per contested row. */
  winners: Map<string, number>;
  ops: number;
  errors: unknown[];
}

function countWin(outcome: RaceOutcome, id: string) {
  outcome.winners.set(id, (outcome.winners.get(id) ?? 0) + 1);
}

/** PER_ROUND ready machines, each raced by an allocator and a drainer at once. */
async function leaseVsDrain(lease: (pool: string) => Promise<string | null>, drain: (m: MachineRow) => Promise<boolean>): Promise<RaceOutcome> {
  const outcome: RaceOutcome = { winners: new Map(), ops: 0, errors: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const pool = await addPool(t.db, { maxSize: PER_ROUND });
    await queueTasks(t.db, pool.name, PER_ROUND);
    const machines = await readyMachines(t.db, pool.name, PER_ROUND);
    const tally = await runActors(PER_ROUND * 2, async (actor) => {
      outcome.ops++;
      if (actor % 2 === 0) {
        const leased = await lease(pool.name);
        if (leased) countWin(outcome, leased);
      } else {
        const m = machines[(actor - 1) / 2]!;
        if (await drain(m)) countWin(outcome, m.id);
      }
    });
    outcome.errors.push(...tally.errors);
  }
  return outcome;
}

/** PER_ROUND stopped machines holding tasks, each released by two racers at once. */
async function releaseVsRelease(release: (m: MachineRow, task: TaskRow) => Promise<boolean>): Promise<RaceOutcome> {
  const outcome: RaceOutcome = { winners: new Map(), ops: 0, errors: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const pool = await addPool(t.db, { maxSize: PER_ROUND });
    const held = await Promise.all(Array.from({ length: PER_ROUND }, () => stoppedWithTask(t.db, pool.name)));
    const tally = await runActors(PER_ROUND * 2, async (actor) => {
      outcome.ops++;
      const { machine, task } = held[actor >> 1]!;
      if (await release(machine, task)) countWin(outcome, machine.id);
    });
    outcome.errors.push(...tally.errors);
  }
  return outcome;
}

/** PER_ROUND running tasks, each finished by its worker while an operator cancels it. */
async function finishVsCancel(
  finish: (lease: { machineId: string; taskId: string }) => Promise<boolean>,
  cancel: (taskId: string) => Promise<boolean>,
): Promise<RaceOutcome & { leases: { machineId: string; taskId: string }[] }> {
  const outcome: RaceOutcome = { winners: new Map(), ops: 0, errors: [] };
  const all: { machineId: string; taskId: string }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pool = await addPool(t.db, { maxSize: PER_ROUND });
    await queueTasks(t.db, pool.name, PER_ROUND);
    await readyMachines(t.db, pool.name, PER_ROUND);
    const leases: { machineId: string; taskId: string }[] = [];
    for (let i = 0; i < PER_ROUND; i++) {
      const l = (await allocate(t.db, { pool: pool.name }))!;
      await startTask(t.db, l.task.id, l.machine.id, { actor: 'worker' });
      leases.push({ machineId: l.machine.id, taskId: l.task.id });
    }
    const tally = await runActors(PER_ROUND * 2, async (actor) => {
      outcome.ops++;
      const lease = leases[actor >> 1]!;
      const won = actor % 2 === 0 ? await finish(lease) : await cancel(lease.taskId);
      if (won) countWin(outcome, lease.taskId);
    });
    outcome.errors.push(...tally.errors);
    all.push(...leases);
  }
  return { ...outcome, leases: all };
}

const manyWinners = (o: RaceOutcome) => [...o.winners.values()].filter((n) => n > 1).length;

describe('stale row (seed 000)', () => {
  it('lease vs drain: each machine is leased or drained, never both; the loser gets Conflict', async () => {
    const conflicts: string[] = [];
    const o = await leaseVsDrain(
      async (pool) => (await allocate(t.db, { pool }))?.machine.id ?? null,
      async (m) => {
        const r = await drainMachine(t.db, m.id, { actor: 'scaler' });
        if (!r.ok) conflicts.push(r.current?.state ?? 'gone');
        return r.ok;
      },
    );
    expect(o.errors).toEqual([]);
    expect(o.ops).toBeGreaterThanOrEqual(1000);
    expect(manyWinners(o)).toBe(0);
    // Drains that lost found the machine leased: the allocator won those, and only those.
    expect(conflicts.length).toBeGreaterThan(0);
    expect(new Set(conflicts)).toEqual(new Set(['leased']));
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);
  });

  it('release vs release: one release per lease, uses incremented once', async () => {
    const o = await releaseVsRelease(async (m, task) => {
      const r = await releaseMachine(t.db, { machineId: m.id, taskId: task.id }, { actor: 'worker' });
      if (!r.machine.ok) expect(r.machine.current?.state).toBe('released');
      return r.machine.ok;
    });
    expect(o.errors).toEqual([]);
    expect(o.ops).toBeGreaterThanOrEqual(1000);
    expect(o.winners.size).toBe(ROUNDS * PER_ROUND);
    expect(manyWinners(o)).toBe(0);
    for (const id of [...o.winners.keys()].slice(0, 50)) expect((await getMachine(t.db, id))?.uses).toBe(1);
  });

  it('finish vs cancel: the task ends either canceled or completed, as its one winner said', async () => {
    const won = new Map<string, 'finish' | 'cancel'>();
    const o = await finishVsCancel(
      async (lease) => {
        const r = await finishTask(t.db, lease, { outcome: 'completed' }, { actor: 'worker' });
        if (r.machine.ok) won.set(lease.taskId, 'finish');
        return r.machine.ok;
      },
      async (taskId) => {
        const r = await cancelTask(t.db, taskId, { actor: 'operator' });
        if (r.kind === 'ended') won.set(taskId, 'cancel');
        return r.kind === 'ended';
      },
    );
    expect(o.errors).toEqual([]);
    expect(o.ops).toBeGreaterThanOrEqual(1000);
    expect(manyWinners(o)).toBe(0);
    expect(o.winners.size).toBe(o.leases.length);
    // Let every machine finish its stop and release, then compare with the winner.
    for (const lease of o.leases) {
      await markStopped(t.db, lease.machineId, { actor: 'worker' });
      const r = await releaseMachine(t.db, lease, { actor: 'worker' });
      expect(r.machine.ok).toBe(true);
      expect((await getTask(t.db, lease.taskId))?.state).toBe(won.get(lease.taskId) === 'cancel' ? 'canceled' : 'completed');
    }
    expect(new Set(won.values()).size).toBe(2);
    expect(await checkInvariants(t.db)).toEqual([]);
  });

  it('naive twin: unconditional updates let several racers win the same row', async () => {
    const drained = await leaseVsDrain(
      async (pool) => {
        // Lease via the real allocator; the drain below ignores what it did.
        return (await allocate(t.db, { pool }))?.machine.id ?? null;
      },
      // The ORM flushes its whole copy, loaded when the machine was ready and held no task, once
      // the lease has committed (the interleaving the field report saw; left to the race, a busy
      // machine sometimes runs every drain first and the twin shows nothing).
      async (m) => {
        await until(async () => (await getMachine(t.db, m.id))?.state === 'leased', 30_000);
        return forceMachineState(t.db, m.id, 'draining', m.taskId);
      },
    );
    const released = await releaseVsRelease((m, task) => forceRelease(t.db, m.id, task.id));
    const ended = await finishVsCancel(
      (lease) => forceMachineState(t.db, lease.machineId, 'stopping'),
      (taskId) => forceTaskState(t.db, taskId, 'canceled'),
    );
    expect(manyWinners(drained)).toBeGreaterThan(0);
    expect(manyWinners(released)).toBeGreaterThan(0);
    expect(manyWinners(ended)).toBeGreaterThan(0);
  });
});
