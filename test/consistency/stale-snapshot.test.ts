// Seed 002 (a stale copy written back). Live actors drive 8 machines around their cycle while
// job holders take a copy of a machine, wait until the row has moved on at least two versions,
// then act on their copy. With id + expected state/version/task, every stale write is refused
// and no row ever goes back in time; the save-the-copy twin rewinds rows.
import { EventEmitter, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { MachineRow } from '../../src/db/index.js';
import {
  beginStop,
  checkInvariants,
  drainMachine,
  getMachine,
  markReady,
  markStopped,
  releaseMachine,
} from '../../src/machinery/index.js';
import type { Outcome } from '../../src/machinery/index.js';
import { connectionsOpened, pick, prng, runActors } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks, readyMachines } from '../support/fixtures.js';
import { advance, realSteps } from './lifecycle-steps.js';
import { saveCopy } from './naive/save-stale-copy.js';

const LIVE = 10;
const LIVE_OPS = 120;
const HOLDERS = 8;
const MACHINES = 8;

const t = useTestDatabase('stale_snapshot', LIVE + HOLDERS + 4);

/** Applies what a job carrying `copy` was sent to do. Returns true when the write took effect. */
type StaleWriter = (copy: MachineRow) => Promise<boolean>;

/** The real way: id plus the expected version, state or task from the copy; never the copy itself. */
const conditionalWrite: StaleWriter = async (copy) => {
  const a = { actor: 'job', expectVersion: copy.version };
  let r: Outcome<MachineRow>;
  switch (copy.state) {
    case 'ready':
      r = await drainMachine(t.db, copy.id, a);
      break;
    case 'reimaging':
      r = await markReady(t.db, copy.id, a);
      break;
    case 'stopping':
      r = await markStopped(t.db, copy.id, a);
      break;
    case 'stopped':
      // The lease the copy knew: a later lease of the same machine is someone else's.
      r = (await releaseMachine(t.db, { machineId: copy.id, taskId: copy.taskId }, { actor: 'job' })).machine;
      break;
    default:
      r = await beginStop(t.db, copy.id, { actor: 'job', taskId: copy.taskId });
  }
  return r.ok;
};

/** The twin: the copy, advanced one step in memory, saved back over the row. */
const copyWrite: StaleWriter = (copy) => {
  const next: Record<string, string> = { ready: 'draining', reimaging: 'ready', stopping: 'stopped', stopped: 'released', leased: 'stopping', released: 'reimaging' };
  const released = copy.state === 'stopped';
  return saveCopy(t.db, {
    ...copy,
    state: next[copy.state] ?? copy.state,
    version: copy.version + 1,
    uses: copy.uses + (released && copy.taskId ? 1 : 0),
    taskId: released ? null : copy.taskId,
  });
};

async function race(write: StaleWriter, seed: number) {
  const pool = await addPool(t.db, { recycle: 'reimage', maxSize: MACHINES });
  await Promise.all(Array.from({ length: 6 }, () => queueTasks(t.db, pool.name, 50)));
  const ids = (await readyMachines(t.db, pool.name, MACHINES)).map((m) => m.id);
  const moves = new EventEmitter().setMaxListeners(0);
  let liveDone = false;
  const stale = { writes: 0, won: 0, rewound: 0 };

  /** Waits, on the live actors' own signals, until the row is at least `version`. */
  async function movedTo(id: string, version: number): Promise<MachineRow | null> {
    for (;;) {
      const next = once(moves, id);
      const row = await getMachine(t.db, id);
      if (!row || row.version >= version) return row;
      if (liveDone) return null;
      await Promise.race([next, once(moves, 'done')]);
    }
  }

  const live = runActors(LIVE, async (actor, tally) => {
    const random = prng(seed + actor);
    const steps = realSteps(t.db, `live-${actor}`);
    for (let i = 0; i < LIVE_OPS; i++) {
      const seen = await getMachine(t.db, pick(random, ids));
      if (!seen) continue;
      tally.ops++;
      const step = await advance(t.db, steps, pool.name, seen);
      if (step.won && step.machineId) moves.emit(step.machineId);
    }
  }).finally(() => {
    liveDone = true;
    moves.emit('done');
  });

  const holders = runActors(HOLDERS, async (actor) => {
    const random = prng(seed * 7 + actor);
    while (!liveDone) {
      // A job payload: the row serialized into the queue and read back later.
      const copy = await getMachine(t.db, pick(random, ids));
      if (!copy) continue;
      const now = await movedTo(copy.id, copy.version + 2);
      if (!now) break;
      stale.writes++;
      if (await write(copy)) stale.won++;
      const after = await getMachine(t.db, copy.id);
      if (after && after.version < now.version) stale.rewound++;
    }
  });

  const [liveTally, holderTally] = await Promise.all([live, holders]);
  return { liveTally, holderTally, stale };
}

describe('stale snapshot (seed 002)', () => {
  it('a writer holding an old copy never overwrites newer state', async () => {
    const { liveTally, holderTally, stale } = await race(conditionalWrite, 2002);
    expect(liveTally.errors).toEqual([]);
    expect(holderTally.errors).toEqual([]);
    expect(liveTally.ops + stale.writes).toBeGreaterThanOrEqual(1000);
    expect(stale.writes).toBeGreaterThan(100);
    expect(stale.won).toBe(0);
    expect(stale.rewound).toBe(0);
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);
    expect(await checkInvariants(t.db)).toEqual([]);
  });

  it('naive twin: saving the copy back rewinds rows that moved on', async () => {
    const { stale } = await race(copyWrite, 2002);
    expect(stale.writes).toBeGreaterThan(0);
    expect(stale.rewound).toBeGreaterThan(0);
  });
});
