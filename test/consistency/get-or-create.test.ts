// Seed 003 (get-or-create race). 50 concurrent submissions with one idempotency key must yield
// one task that every caller gets; 32 daemons syncing the same pools at once must leave one
// row per pool. The check-then-insert twin fails both.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { submitTask, syncPools } from '../../src/machinery/index.js';
import { connectionsOpened, runActors } from '../support/actors.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, poolDefinition } from '../support/fixtures.js';
import { getOrCreatePool, getOrCreateTask } from './naive/check-then-insert.js';

const CALLERS = 50;
const ROUNDS = 20;
const SYNCERS = 32;
const SYNC_ROUNDS = 32;

const t = useTestDatabase('get_or_create', 24);

/** One round: CALLERS submit the same key at once; returns the ids they were given. */
async function submitRound(submit: (key: string) => Promise<string>) {
  const key = `key-${randomUUID()}`;
  const ids: string[] = [];
  const tally = await runActors(CALLERS, async (_, tally) => {
    tally.ops++;
    ids.push(await submit(key));
  });
  const rows = await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = ${key}`);
  return { ids, errors: tally.errors, rows: Number(rows.rows[0]?.n) };
}

async function syncRound(sync: (defs: ReturnType<typeof poolDefinition>[]) => Promise<void>) {
  const defs = Array.from({ length: 4 }, (_, i) => poolDefinition({ name: `sync-${randomUUID().slice(0, 8)}-${i}`, maxSize: 5 + i }));
  const tally = await runActors(SYNCERS, async (_, tally) => {
    tally.ops++;
    await sync(defs);
  });
  const rows = await t.db.execute(sql`SELECT name, count(*) OVER (PARTITION BY name)::int AS n FROM pools WHERE name = ANY(${sql.param(defs.map((d) => d.name))}::text[])`);
  return { errors: tally.errors, pools: rows.rows.length, expected: defs.length, ops: tally.ops };
}

describe('get-or-create race (seed 003)', () => {
  it('50 concurrent submissions with one key: one task, and every caller gets it', async () => {
    const pool = await addPool(t.db);
    let submissions = 0;
    let created = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await submitRound(async (key) => {
        const s = await submitTask(t.db, { pool: pool.name, payload: { round }, idempotencyKey: key }, { actor: 'api' });
        if (s.created) created++;
        return s.task.id;
      });
      submissions += r.ids.length;
      expect(r.errors).toEqual([]);
      expect(r.rows).toBe(1);
      expect(new Set(r.ids).size).toBe(1);
    }
    expect(submissions).toBe(CALLERS * ROUNDS);
    expect(created).toBe(ROUNDS);
    expect(connectionsOpened(t.pool)).toBeGreaterThanOrEqual(16);
  });

  it('concurrent pool sync from 32 daemons: one row per pool, no error', async () => {
    let ops = 0;
    for (let round = 0; round < SYNC_ROUNDS; round++) {
      const r = await syncRound(async (defs) => {
        await syncPools(t.db, defs);
      });
      ops += r.ops;
      expect(r.errors).toEqual([]);
      expect(r.pools).toBe(r.expected);
    }
    expect(ops).toBeGreaterThanOrEqual(1000);
  });

  it('naive twin: check-then-insert errors or hands out different tasks for one key', async () => {
    const pool = await addPool(t.db);
    let broken = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await submitRound((key) => getOrCreateTask(t.db, pool.name, key));
      if (r.errors.length > 0 || new Set(r.ids).size > 1) broken++;
    }
    expect(broken).toBeGreaterThan(0);
  });

  it('naive twin: check-then-insert pool sync collides', async () => {
    let broken = 0;
    for (let round = 0; round < 8; round++) {
      const r = await syncRound(async (defs) => {
        for (const d of defs) await getOrCreatePool(t.db, d);
      });
      if (r.errors.length > 0) broken++;
    }
    expect(broken).toBeGreaterThan(0);
  });
});
