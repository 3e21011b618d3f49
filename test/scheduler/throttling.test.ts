// sandfleet against the EC2 emulator, which enforces EC2's documented per-account budget. Alone
// on the account, sandfleet's own buckets keep it inside that budget: EC2 never throttles it.
// With the budget squeezed to a fifth for a long while (other callers spending from it), then
// restored: throttled machine jobs wait for budget
// without spending attempts, nothing fails or sticks in provisioning, every task completes once
// budget returns, and no instance is left running without its machine's row. Real aws adapter
// over HTTP against the EC2 emulator, which enforces the budget.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants } from '../../src/machinery/index.js';
import { EC2_BUDGET, type Ec2BudgetName } from '../../src/providers/cloud-budgets.js';
import type { BucketLimit } from '../../src/providers/budget.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';

const t = useTestDatabase('throttling', 24, { queue: true });
/** Longer than the ~64 s in which throttled machine jobs used to spend all their attempts. */
const SQUEEZE_MS = 90_000;
/** More machines (one per task) than the squeezed RunInstances budget launched in SQUEEZE_MS one per request (0.4 calls/s). */
const TASKS = 60;
const BOOT_MS = 500;

const fifth = (): Partial<Record<Ec2BudgetName, BucketLimit>> =>
  Object.fromEntries(Object.entries(EC2_BUDGET).map(([name, l]) => [name, { burst: Math.max(1, Math.floor(l.burst / 5)), perSecond: l.perSecond / 5 }]));

const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);
/** Machines the pool ever had: each row's events outlive it. */
const machinesOf = (pool: string) => count(sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE entity = 'machine' AND pool = ${pool}`);

describe.each(QUEUE_BACKENDS)('a squeezed EC2 budget on %s', (_, backend) => {
  let ec2: Ec2Emulator;
  let scheduler: Scheduler;
  const errors: string[] = [];
  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'AKIDSANDFLEETTEST';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'not-a-secret';
    ec2 = new Ec2Emulator({ bootDelayMs: BOOT_MS, stopDelayMs: 50, terminateDelayMs: 100, terminatedVisibleMs: 2_000 });
    const endpoint = await ec2.start();
    scheduler = testScheduler(t, backend(), { onError: (e) => errors.push(String(e)), readinessFor: () => ({ bootTimeoutMs: 60_000 }) });
    scheduler.start();
    scheduler.startSupervising();
    settings = { region: 'us-east-1', endpoint, imageId: 'ami-0abc', instanceType: 't3.micro', subnetIds: ['subnet-0aaa'], notFoundGraceS: 5 };
  });
  afterAll(async () => {
    await scheduler?.close();
    await ec2?.stop();
  });
  let settings: Record<string, unknown>;
  const byState = (pool: string, state: string) => count(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state = ${state}`);

  it('is never throttled by EC2 while it spends only its own documented budget', { timeout: 120_000 }, async () => {
    const pool = (await addPool(t.db, { provider: 'aws', settings, maxSize: 12, maxUses: 1, recycle: 'delete' })).name;
    for (let i = 0; i < 30; i++) await submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} });
    await until(async () => (await byState(pool, 'completed')) === 30, 100_000);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0, 60_000);
    // sandfleet's buckets (rate_buckets) hold it to the documented budget the emulator enforces.
    expect(ec2.calls.filter((c) => c.throttled).map((c) => c.action)).toEqual([]);
    // Cloud calls per machine, as the issue bounds them: at most one create (machines reserved
    // together share one), a stop and a delete asked about once each (nothing repeated for want of budget).
    const calls = (action: string) => ec2.calls.filter((c) => c.action === action);
    const machines = await machinesOf(pool);
    expect(machines).toBeGreaterThanOrEqual(30);
    expect(ec2.launchedWith('sandfleet:pool', pool)).toBe(machines);
    expect(calls('RunInstances').length).toBeLessThanOrEqual(machines);
    expect(calls('StopInstances').length).toBeLessThanOrEqual(1.2 * machines);
    expect(calls('TerminateInstances').length).toBeLessThanOrEqual(1.2 * machines);
  });

  it('launches a burst of 100 tasks into an empty pool with at most one RunInstances per ten machines', { timeout: 120_000 }, async () => {
    const BURST = 100;
    const pool = (await addPool(t.db, { provider: 'aws', settings, maxSize: BURST, maxUses: 1, recycle: 'delete' })).name;
    // The earlier test's pool has drained: every RunInstances from here on is this pool's.
    const sent = ec2.calls.length;
    await Promise.all(Array.from({ length: BURST }, () => submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} })));
    await until(async () => (await byState(pool, 'completed')) === BURST, 100_000);
    const machines = await machinesOf(pool);
    expect(ec2.launchedWith('sandfleet:pool', pool)).toBe(machines);
    // Machines reserved together share one launch (up to 100 each); reservations follow the
    // supervision ticks the submissions straddle, so a few launches, not one per machine.
    const runs = ec2.calls.slice(sent).filter((c) => c.action === 'RunInstances');
    expect(runs.length).toBeLessThanOrEqual(machines / 10);
  });

  it('waits out the squeeze without failing a job, then completes every task with no instance left behind', { timeout: SQUEEZE_MS + 120_000 }, async () => {
    // Other callers of the account spend four fifths of the budget: the cloud throttles sandfleet.
    ec2.budget!.resize(fifth());
    const throttledBefore = ec2.throttledResponses;
    const pool = (await addPool(t.db, { provider: 'aws', settings, maxSize: 12, maxUses: 1, recycle: 'delete' })).name;
    const explain = async () => ({
      tasks: (await t.db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ${pool} GROUP BY state`)).rows,
      machines: (await t.db.execute(sql`SELECT state, count(*)::int AS n FROM machines WHERE pool = ${pool} GROUP BY state`)).rows,
      throttled: ec2.throttledResponses,
      errors: errors.slice(0, 3),
    });
    for (let i = 0; i < TASKS; i++) await submit(t.db, scheduler.deps.queues.runs, { pool, payload: {} });

    // Squeezed: RunInstances refills 0.4 calls/s, so only part of the work gets machines.
    await new Promise((resolve) => setTimeout(resolve, SQUEEZE_MS));
    const throttledWhileSqueezed = ec2.throttledResponses - throttledBefore;
    const failedJobs = async () => [...(await scheduler.deps.queues.machines.getFailed()), ...(await scheduler.deps.queues.runs.getFailed())].map((j) => j.failedReason);
    expect(throttledWhileSqueezed).toBeGreaterThan(0);
    expect(await failedJobs()).toEqual([]);
    expect(await byState(pool, 'failed')).toBe(0);
    const completedWhileSqueezed = await byState(pool, 'completed');
    // Launches of many machines per request get through a squeezed RunInstances budget; the
    // status reads and teardown calls are what it throttles most.
    console.log(`squeezed for ${SQUEEZE_MS / 1000} s: ${completedWhileSqueezed}/${TASKS} tasks completed, ${throttledWhileSqueezed} throttled responses`);

    // Restored: provisioning resumes by itself. Machines reserved during the squeeze leave
    // provisioning within the restored budget's ramp plus one boot.
    const restoredAt = new Date();
    ec2.budget!.resize(EC2_BUDGET);
    await until(
      async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} AND state = 'provisioning' AND created_at < ${restoredAt.toISOString()}::timestamptz`)) === 0,
      15_000 + BOOT_MS,
      explain,
    );
    await until(async () => (await byState(pool, 'completed')) === TASKS, 120_000, explain);
    expect(await failedJobs()).toEqual([]);
    expect(await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} AND state = 'failed'`)).toBe(0);

    // One instance per machine, however often a throttled launch was asked again, and all going or gone.
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0, 60_000, explain);
    const machines = await machinesOf(pool);
    expect(machines).toBeGreaterThanOrEqual(TASKS);
    expect(ec2.launchedWith('sandfleet:pool', pool)).toBe(machines);
    expect(ec2.liveInstances().filter((i) => i.state !== 'shutting-down' && i.state !== 'terminated')).toEqual([]);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });
});
