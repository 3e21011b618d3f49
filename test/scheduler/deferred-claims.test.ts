// A submission that finds its pool's claim turn taken does not wait in it: it commits at once,
// and the claim follows right after the turn frees, folded with the others that came meanwhile;
// each submission still answers the machine the claim gave it.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../src/db/transaction.js';
import { claimLeases } from '../../src/machinery/index.js';
import { DeferredClaims } from '../../src/scheduler/deferred-claims.js';
import { createQueue, RUN_QUEUE, runJobId, type RunJob } from '../../src/scheduler/queue.js';
import { submit } from '../../src/scheduler/submission.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, readyMachines } from '../support/fixtures.js';
import { installStatementCounter, resetCounts, topStatements } from '../support/statement-counter.js';
import { until } from '../support/until.js';

const t = useTestDatabase('deferred_claims', 12, { queue: true });
installStatementCounter();

let queue: Queue<RunJob>;
beforeAll(() => {
  queue = createQueue<RunJob>(RUN_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace: `d${randomUUID().slice(0, 8)}` });
});
afterAll(async () => {
  await queue?.close();
});

const claimStatements = () => topStatements(100).filter(([text]) => text.startsWith('WITH queued AS')).reduce((n, [, c]) => n + c, 0);
const stateOf = async (id: string) => String((await t.db.execute(sql`SELECT state FROM tasks WHERE id = ${id}`)).rows[0]?.state ?? 'none');

describe('deferred claims', () => {
  it('commits submissions while another transaction holds the turn, then claims for all of them in at most two claims', async () => {
    const pool = (await addPool(t.db, { maxSize: 3 })).name;
    const machines = await readyMachines(t.db, pool, 3);
    const claims = new DeferredClaims(t.db, queue, 'test', (error) => {
      throw error;
    });
    // Another transaction takes the pool's turn (a claim with nothing to claim) and keeps it.
    let free: () => void = () => {};
    const held = new Promise<void>((resolve) => (free = resolve));
    let holding: () => void = () => {};
    const taken = new Promise<void>((resolve) => (holding = resolve));
    const holder = withTransaction(t.db, async (tx) => {
      await claimLeases(tx, pool, 1);
      holding();
      await held;
    });
    await taken;

    resetCounts();
    const submissions = [0, 1, 2].map((i) => submit(t.db, queue, { pool, payload: { i } }, { actor: 'test', claimLater: (p) => claims.request(p) }));
    // Committed (queued) while the turn is still held: none of them waits in it.
    await until(async () => Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = 'queued'`)).rows[0]?.n) === 3, 10_000);
    free();
    await holder;
    const results = await Promise.all(submissions);
    expect(results.map((r) => r.task.state)).toEqual(['assigned', 'assigned', 'assigned']);
    expect(new Set(results.map((r) => r.task.machineId))).toEqual(new Set(machines.map((m) => m.id)));
    for (const r of results) expect(await stateOf(r.task.id)).toBe('assigned');
    for (const r of results) expect(await queue.getJob(runJobId(r.task.id, 1))).toBeDefined();
    // The claim in flight when they asked, and at most one more for the requests folded behind it.
    expect(claimStatements()).toBeLessThanOrEqual(2);
    await claims.settled();
  });
});
