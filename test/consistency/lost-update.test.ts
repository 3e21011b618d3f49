// Seed 004 (lost update from read-modify-write). 16 actors race around the reimage cycle of 4
// machines, each deciding its next step from a row it read earlier. With conditional
// transitions and `uses = uses + 1` every counted win is in the database exactly once; the
// read-modify-write twin loses increments and double-counts transitions.
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/index.js';
import { checkInvariants, getMachine, listMachines } from '../../src/machinery/index.js';
import { connectionsOpened, pick, prng, runActors, type ActorTally } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, queueTasks, readyMachines } from '../support/fixtures.js';
import { advance, realSteps, type LifecycleSteps } from './lifecycle-steps.js';
import { readModifyWriteSteps } from './naive/read-modify-write.js';

const ACTORS = 16;
const OPS_PER_ACTOR = 80;
const MACHINES = 4;
// Versions a fixture machine has before the race: provisioning, booting, ready.
const FIXTURE_VERSION = 3;

const t = useTestDatabase('lost_update', ACTORS + 4);

interface Counted {
  transitions: number;
  served: number;
}

async function raceTheCycle(db: Db, steps: (actor: number) => LifecycleSteps, seed: number) {
  const pool = await addPool(db, { recycle: 'reimage', maxSize: MACHINES });
  await Promise.all(Array.from({ length: 8 }, () => queueTasks(db, pool.name, 60)));
  const ids = (await readyMachines(db, pool.name, MACHINES)).map((m) => m.id);
  const counted = new Map(ids.map((id) => [id, { transitions: 0, served: 0 }]));
  const tally = await runActors(ACTORS, async (actor, tally: ActorTally) => {
    const random = prng(seed + actor);
    const mine = steps(actor);
    for (let i = 0; i < OPS_PER_ACTOR; i++) {
      const seen = await getMachine(db, pick(random, ids));
      if (!seen) continue;
      tally.ops++;
      try {
        const step = await advance(db, mine, pool.name, seen);
        if (!step.won || !step.machineId) {
          tally.conflicts++;
          continue;
        }
        tally.ok++;
        const c = counted.get(step.machineId)!;
        if (step.machineChanged) c.transitions++;
        if (step.servedTask) c.served++;
      } catch (error) {
        tally.errors.push(error);
      }
    }
  });
  return { pool, tally, counted };
}

/** Differences between what the actors were told they did and what the database holds. */
async function discrepancies(db: Db, pool: string, counted: Map<string, Counted>): Promise<string[]> {
  const found: string[] = [];
  for (const m of await listMachines(db, { pool })) {
    const c = counted.get(m.id)!;
    if (m.version !== FIXTURE_VERSION + c.transitions) found.push(`${m.id}: version ${m.version}, ${c.transitions} transitions won`);
    if (m.uses !== c.served) found.push(`${m.id}: uses ${m.uses}, ${c.served} tasks served`);
  }
  return found;
}

describe('lost update (seed 004)', () => {
  it('keeps exact counts under 16 racing actors: every won transition and every use is recorded once', async () => {
    const { pool, tally, counted } = await raceTheCycle(t.db, (a) => realSteps(t.db, `actor-${a}`), 4004);
    expect(tally.errors).toEqual([]);
    expect(tally.ops).toBeGreaterThanOrEqual(1000);
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);
    // The race was real: many actors lost, and many cycles completed.
    expect(tally.conflicts).toBeGreaterThan(100);
    const served = [...counted.values()].reduce((s, c) => s + c.served, 0);
    expect(served).toBeGreaterThan(20);
    expect(await discrepancies(t.db, pool.name, counted)).toEqual([]);
    expect(await checkInvariants(t.db)).toEqual([]);
  });

  it('naive twin: read-modify-write loses updates in the same race', async () => {
    const { pool, tally, counted } = await raceTheCycle(t.db, () => readModifyWriteSteps(t.db), 4004);
    expect(tally.ops).toBeGreaterThanOrEqual(1000);
    const found = await discrepancies(t.db, pool.name, counted);
    // It breaks: increments and transitions it was told it made are missing from the rows.
    expect(found.length).toBeGreaterThan(0);
  });
});
