// I6 across pools: 16 actors reserve machines in 4 pools at once under a global limit, while
// others fail and delete machines to free room. No pool ever passes max_size and the cluster
// never passes the global limit, yet the limit is reached (the race was real).
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { finalizeDelete, listMachines, markFailed, requestDelete, reserveMachines } from '../../src/machinery/index.js';
import { connectionsOpened, pick, prng, runActors } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';

const t = useTestDatabase('global_capacity', 24);
const GLOBAL = 12;
const ROUNDS = 30;

describe('global capacity (I6 across pools)', () => {
  it('never exceeds max_size per pool or the global limit, under 16 concurrent reservers', async () => {
    const pools = await Promise.all(Array.from({ length: 4 }, () => addPool(t.db, { maxSize: 8 })));
    const names = pools.map((p) => p.name);
    let peak = 0;
    let ops = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const tally = await runActors(16, async (actor) => {
        const random = prng(round * 100 + actor);
        ops++;
        if (actor < 12) {
          await reserveMachines(t.db, pick(random, names), 1 + Math.floor(random() * 3), { actor: `a${actor}`, globalLimit: GLOBAL });
          return;
        }
        // Every third round, retirement frees room while reservations race for it.
        if (round % 3 !== 2) return;
        const victims = (await listMachines(t.db, { pool: pick(random, names), states: ['provisioning'] })).slice(0, 2);
        for (const m of victims) {
          if ((await markFailed(t.db, m.id, 'retired by the test', { actor: `r${actor}` })).ok) {
            await requestDelete(t.db, m.id, { actor: `r${actor}` });
            await finalizeDelete(t.db, m.id, { actor: `r${actor}` });
          }
        }
      });
      expect(tally.errors).toEqual([]);
      const perPool = await t.db.execute(sql`SELECT pool, count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool`);
      const total = perPool.rows.reduce((sum, r) => sum + Number(r.n), 0);
      for (const r of perPool.rows) expect(Number(r.n)).toBeLessThanOrEqual(8);
      expect(total).toBeLessThanOrEqual(GLOBAL);
      peak = Math.max(peak, total);
    }
    expect(peak).toBe(GLOBAL);
    expect(ops).toBeGreaterThanOrEqual(16 * ROUNDS);
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);
  });
});
