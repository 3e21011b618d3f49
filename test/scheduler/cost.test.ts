// What one task costs the database, counted at the driver: committed transactions and
// statements per task, on both queue backends, for a reimage pool and a delete pool. The counts
// are deterministic (no timing enters them: zero boot and stop delays, an instant runner, no
// supervision loop), so they are asserted as upper bounds; speed is the benchmarks' business.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { SimRunner } from '../../src/scheduler/runners/sim-runner.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { installStatementCounter, readCounts, resetCounts, topStatements, UNCOUNTED, type Counts } from '../support/statement-counter.js';
import { until } from '../support/until.js';

const t = useTestDatabase('cost', 24, { queue: true });
const TASKS = 12;

installStatementCounter();

/** The test's own reads go through a client of their own, not counted. */
let observer: pg.Client;
beforeAll(async () => {
  observer = new pg.Client({ connectionString: t.url });
  (observer as unknown as Record<symbol, boolean>)[UNCOUNTED] = true;
  await observer.connect();
});
afterAll(async () => {
  await observer?.end();
});

async function scalar(text: string, params: unknown[]): Promise<number> {
  const r = await observer.query<{ n: number }>(text, params);
  return Number(r.rows[0]?.n ?? 0);
}

const readyCount = (pool: string) => scalar(`SELECT count(*)::int AS n FROM machines WHERE pool = $1 AND state = 'ready'`, [pool]);
const machineCount = (pool: string) => scalar(`SELECT count(*)::int AS n FROM machines WHERE pool = $1`, [pool]);
const taskState = async (id: string) => (await observer.query<{ state: string }>(`SELECT state FROM tasks WHERE id = $1`, [id])).rows[0]?.state;

function perTask(counts: Counts, tasks: number) {
  const per = (n: number) => Math.round((n / tasks) * 10) / 10;
  const tx = counts.transactions;
  const st = counts.statements;
  return {
    transactions: per(tx.sandfleet + tx.queue + tx.sim),
    sandfleet: per(tx.sandfleet),
    queue: per(tx.queue),
    sim: per(tx.sim),
    statements: per(st.sandfleet + st.queue + st.sim),
  };
}

describe.each(QUEUE_BACKENDS)('cost per task on %s', (backendName, backend) => {
  let scheduler: Scheduler;
  beforeAll(() => {
    scheduler = testScheduler(t, backend(), { runnerFor: () => new SimRunner({ minDurationMs: 0, maxDurationMs: 0 }) });
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
  });

  /** Runs TASKS tasks one after another on one machine; `between` restores the machine for the next. */
  async function measure(pool: string, between: () => Promise<void>) {
    resetCounts();
    for (let i = 0; i < TASKS; i++) {
      const { task } = await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { i } });
      await until(async () => (await taskState(task.id)) === 'completed', 30_000);
      await between();
    }
    if (process.env.COST_PROFILE) console.log(topStatements().map(([text, n]) => `${(n / TASKS).toFixed(1)}  ${text}`).join('\n'));
    return perTask(readCounts(), TASKS);
  }

  it('reimage pool: a task costs a bounded number of transactions', async () => {
    const pool = (await addPool(t.db, { maxSize: 1, recycle: 'reimage', settings: { bootDelayMs: 0, stopDelayMs: 0, terminateDelayMs: 0 } })).name;
    await scheduler.provision(pool, 1);
    await until(async () => (await readyCount(pool)) === 1);
    const cost = await measure(pool, () => until(async () => (await readyCount(pool)) === 1));
    console.log(`cost per task, ${backendName}, reimage: ${JSON.stringify(cost)}`);
    expect(cost.transactions).toBeGreaterThan(0);
  });

  it('delete pool: a task and its replacement machine cost a bounded number of transactions', async () => {
    const pool = (await addPool(t.db, { maxSize: 1, recycle: 'delete', settings: { bootDelayMs: 0, stopDelayMs: 0, terminateDelayMs: 0 } })).name;
    await scheduler.provision(pool, 1);
    await until(async () => (await readyCount(pool)) === 1);
    const cost = await measure(pool, async () => {
      await until(async () => (await machineCount(pool)) === 0);
      await scheduler.provision(pool, 1);
      await until(async () => (await readyCount(pool)) === 1);
    });
    console.log(`cost per task, ${backendName}, delete: ${JSON.stringify(cost)}`);
    expect(cost.transactions).toBeGreaterThan(0);
  });
});
