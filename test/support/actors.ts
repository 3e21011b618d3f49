// Runs concurrent actors against real Postgres and tallies what they saw. Actors await their
// own database calls, so `concurrency` actors keep that many connections busy at once.
import type pg from 'pg';

export interface ActorTally {
  ops: number;
  ok: number;
  conflicts: number;
  errors: unknown[];
}

export function newTally(): ActorTally {
  return { ops: 0, ok: 0, conflicts: 0, errors: [] };
}

/** Runs `actors` copies of `body` at once; returns once all are done. Errors are collected, not thrown. */
export async function runActors(actors: number, body: (actor: number, tally: ActorTally) => Promise<void>): Promise<ActorTally> {
  const tally = newTally();
  await Promise.all(
    Array.from({ length: actors }, async (_, actor) => {
      try {
        await body(actor, tally);
      } catch (error) {
        tally.errors.push(error);
      }
    }),
  );
  return tally;
}

/** The number of server connections the pool has open: evidence the actors ran in parallel. */
export function connectionsOpened(pool: pg.Pool): number {
  return pool.totalCount;
}

export { prng } from '../../src/providers/prng.js';

export function pick<T>(random: () => number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from empty list');
  return items[Math.floor(random() * items.length)]!;
}
