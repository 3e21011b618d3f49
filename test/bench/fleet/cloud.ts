// The cloud phase of `npm run bench:fleet`: what sandfleet asks of a cloud that meters it. One
// in-process scheduler per provider (real PostgreSQL, BullMQ on PostgreSQL, the real adapters
// over HTTP) drives one pool of the sim, of the EC2 emulator and of the ARM emulator, each cloud
// enforcing its documented per-account budget and counting every request it is sent. 1,000 tasks
// go at once into the empty pool (scale-up), then tasks keep arriving for a steady window, then
// the pool empties. Every machine is created, polled, stopped and deleted (and reimaged once
// where the provider can), so requests per machine cover every call class.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { EC2_BUDGET } from '../../../src/providers/cloud-budgets.js';
import { simRequests } from '../../../src/providers/sim/sim-provider.js';
import { SimRunner } from '../../../src/scheduler/runners/sim-runner.js';
import type { Scheduler } from '../../../src/scheduler/scheduler.js';
import { heldBack } from '../../../src/scheduler/defaults.js';
import { submit } from '../../../src/scheduler/submission.js';
import { makeTestCertificate } from '../../emulators/arm/certificate.js';
import { ArmEmulator } from '../../emulators/arm/server.js';
import { Ec2Emulator } from '../../emulators/ec2/server.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { addPool } from '../../support/fixtures.js';
import { sleep } from './context.js';
import { testScheduler } from '../../support/scheduler.js';

export type CloudName = 'sim' | 'aws' | 'azure';
export const CLOUDS: readonly CloudName[] = ['sim', 'aws', 'azure'];
export const CALL_CLASSES = ['create', 'describe', 'stop', 'delete', 'reimage'] as const;
export type CallClass = (typeof CALL_CLASSES)[number];

export interface CloudPhaseOptions {
  clouds: readonly CloudName[];
  /** Tasks submitted at once into the empty pool (one machine each). */
  burst: number;
  steadyS: number;
  log: (message: string) => void;
}

export interface CloudResult {
  cloud: CloudName;
  machines: number;
  /** Requests the cloud received, by call class (null: the provider has no such call). */
  requests: Record<CallClass, number | null>;
  /** The lifecycle's status reads of single machines (Provider.get), which the adapter batches into describes. */
  machinePolls: number;
  requestedS: number;
  readyS: number;
  throttledScaleUp: number;
  throttledSteady: number;
  steadyTasks: number;
  /** Most machines alive at once in the steady window. */
  steadyMachines: number;
}

const BOOT_MS = 5_000;
/** Machine jobs at once per daemon: what the fleet runs use for 10,000 machines. */
const MACHINE_CONCURRENCY = 200;
const TASK_MS = { minDurationMs: 10_000, maxDurationMs: 15_000 };
const SUBSCRIPTION = '00000000-0000-4000-8000-00000000beec';

/** The sim cloud metered like an EC2 account: EC2's documented request budgets under the sim's call classes. */
const SIM_BUDGET = {
  create: EC2_BUDGET.RunInstances,
  describe: EC2_BUDGET['DescribeInstances:unfiltered'],
  stop: EC2_BUDGET.StopInstances,
  delete: EC2_BUDGET.TerminateInstances,
  reimage: EC2_BUDGET.StopInstances,
};

interface CloudUnderTest {
  provider: CloudName;
  recycle: 'delete' | 'reimage';
  settings: Record<string, unknown>;
  requests: () => Record<CallClass, number | null>;
  throttled: () => number;
  /** Instances the cloud has created for the pool so far (none is deleted yet while it scales up). */
  created: (pool: string) => Promise<number>;
  schedulerOptions: Parameters<typeof testScheduler>[2];
  /** Most new machines a second the account sustains, if its budget bounds that (EC2's instance bucket refills 2/s). */
  sustainedLaunches?: number;
  close: () => Promise<void>;
}

/** A cloud's run, or why it has no figures. */
export type CloudOutcome = CloudResult | { cloud: CloudName; failure: string };

/** Each cloud in turn; one that fails is reported as such and the others still run. */
export async function runCloudPhase(options: CloudPhaseOptions): Promise<CloudOutcome[]> {
  const outcomes: CloudOutcome[] = [];
  for (const cloud of options.clouds) {
    options.log(`cloud ${cloud}: ${options.burst} tasks into an empty pool, then a ${options.steadyS} s steady window`);
    try {
      outcomes.push(await runOne(cloud, options));
    } catch (error) {
      options.log(`cloud ${cloud} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      outcomes.push({ cloud, failure: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
    }
  }
  return outcomes;
}

async function runOne(cloud: CloudName, options: CloudPhaseOptions): Promise<CloudResult> {
  const database = await createTestDatabase(`bench_cloud_${cloud}`, 60, { queue: true });
  const target = await cloudUnderTest(cloud, database);
  let polls = 0;
  // A pool the scheduler cannot work with (its settings refused) ends the run instead of a wait.
  let failure: unknown;
  const scheduler = testScheduler(database, { kind: 'postgres' }, {
    ...target.schedulerOptions,
    runnerFor: () => new SimRunner(TASK_MS),
    readinessFor: () => ({ bootTimeoutMs: 120_000 }),
    pollIntervalMs: 1000,
    superviseEveryMs: 1000,
    machineConcurrency: MACHINE_CONCURRENCY,
    // Every leased machine runs its task at once (the sim runner holds a run slot for the task's length).
    runConcurrency: 2 * options.burst,
    observeCalls: (call) => {
      if (call.operation === 'get') polls++;
    },
    onError: (error) => {
      const cause = error instanceof Error && error.cause !== undefined ? ` (cause: ${String(error.cause)})` : '';
      options.log(`scheduler error: ${String(error).split('\n')[0]}${cause}`);
      failure ??= error;
    },
  });
  try {
    scheduler.start();
    scheduler.startSupervising();
    const pool = (await addPool(database.db, { provider: target.provider, settings: target.settings, maxSize: options.burst, maxUses: target.recycle === 'reimage' ? 2 : 1, recycle: target.recycle })).name;
    const started = Date.now();
    for (let i = 0; i < options.burst; i++) await submit(database.db, scheduler.deps.queues.runs, { pool, payload: {} });
    const failed = () => (String(failure ?? '').includes('invalid provider settings') ? failure : undefined);
    const requestedS = await secondsUntil(started, async () => (await target.created(pool)) >= options.burst, 600_000, failed);
    const readyS = await secondsUntil(started, async () => (await count(database, sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE pool = ${pool} AND to_state = 'ready'`)) >= options.burst, 600_000);
    options.log(`cloud ${cloud}: ${options.burst} machines requested in ${requestedS.toFixed(1)} s, ready in ${readyS.toFixed(1)} s`);
    const throttledScaleUp = target.throttled();
    const steady = await steadyWindow(database, scheduler, pool, options, target.sustainedLaunches);
    const throttledSteady = target.throttled() - throttledScaleUp;
    await drainPool(database, pool, options);
    return {
      cloud,
      machines: await count(database, sql`SELECT count(DISTINCT entity_id)::int AS n FROM events WHERE entity = 'machine' AND pool = ${pool}`),
      requests: target.requests(),
      machinePolls: polls,
      requestedS,
      readyS,
      throttledScaleUp,
      throttledSteady,
      steadyTasks: steady.tasks,
      steadyMachines: steady.machines,
    };
  } finally {
    await scheduler.close();
    await target.close();
    await database.drop();
  }
}

/**
 * Submissions for `steadyS` at the rate the pool turns over (its size per task length), or, where
 * every task takes a new machine and the account's budget bounds launches, at three quarters of
 * that bound (a rate above it would measure a backlog, not a steady state); the most machines alive at once.
 */
async function steadyWindow(database: TestDatabase, scheduler: Scheduler, pool: string, options: CloudPhaseOptions, sustainedLaunches?: number): Promise<{ tasks: number; machines: number }> {
  const turnover = options.burst / ((TASK_MS.minDurationMs + TASK_MS.maxDurationMs) / 2000);
  const perSecond = Math.min(turnover, sustainedLaunches === undefined ? Infinity : 0.75 * sustainedLaunches);
  let owed = 0;
  const ends = Date.now() + options.steadyS * 1000;
  let tasks = 0;
  let machines = 0;
  while (Date.now() < ends) {
    const tick = Date.now();
    owed += perSecond;
    for (; owed >= 1; owed--, tasks++) await submit(database.db, scheduler.deps.queues.runs, { pool, payload: {} });
    machines = Math.max(machines, await count(database, sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`));
    await sleep(1000 - (Date.now() - tick));
  }
  return { tasks, machines };
}

/** Lets every task finish and the idle machines go: each one's stop and delete counted. */
async function drainPool(database: TestDatabase, pool: string, options: CloudPhaseOptions): Promise<void> {
  const states = async (table: 'tasks' | 'machines') =>
    (await database.db.execute(sql`SELECT state, count(*)::int AS n FROM ${sql.raw(table)} WHERE pool = ${pool} GROUP BY state ORDER BY state`)).rows.map((r) => `${String(r.state)} ${String(r.n)}`).join(', ');
  let logged = Date.now();
  const progress = async () => {
    if (Date.now() - logged < 15_000) return;
    logged = Date.now();
    options.log(`draining: tasks ${await states('tasks')}; machines ${await states('machines')}`);
  };
  const unfinished = async () => {
    await progress();
    return (await count(database, sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ${pool} AND state NOT IN ('completed', 'failed', 'cancelled')`)) === 0;
  };
  await secondsUntil(Date.now(), unfinished, 600_000);
  const left = await secondsUntil(
    Date.now(),
    async () => {
      await progress();
      return (await count(database, sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool}`)) === 0;
    },
    600_000,
  );
  options.log(`pool ${pool} empty ${left.toFixed(0)} s after its last task`);
}

async function cloudUnderTest(cloud: CloudName, database: TestDatabase): Promise<CloudUnderTest> {
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDSANDFLEETBENCH';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'not-a-secret';
  switch (cloud) {
    case 'sim': {
      const cluster = `c${randomUUID().slice(0, 8)}`;
      const counts = () => simRequests(cluster);
      return {
        provider: 'sim',
        recycle: 'reimage',
        settings: { bootDelayMs: BOOT_MS, stopDelayMs: 200, terminateDelayMs: 200, budget: SIM_BUDGET },
        requests: () => {
          const { create, describe, stop, delete: del, reimage } = counts();
          return { create, describe, stop, delete: del, reimage };
        },
        throttled: () => counts().throttled,
        created: (pool) => count(database, sql`SELECT count(*)::int AS n FROM sim_cloud.instances WHERE pool = ${pool}`),
        schedulerOptions: { cluster, cloudRateLimits: { sim: heldBack(SIM_BUDGET) } },
        close: () => Promise.resolve(),
      };
    }
    case 'aws': {
      const ec2 = new Ec2Emulator({ bootDelayMs: BOOT_MS, stopDelayMs: 200, terminateDelayMs: 200, terminatedVisibleMs: 10_000 });
      const endpoint = await ec2.start();
      const of = (action: string) => ec2.calls.filter((c) => c.action === action).length;
      return {
        provider: 'aws',
        recycle: 'delete',
        settings: { region: 'us-east-1', endpoint, imageId: 'ami-0abc1234', instanceType: 't3.micro', subnetIds: ['subnet-0aaa'] },
        requests: () => ({ create: of('RunInstances'), describe: of('DescribeInstances'), stop: of('StopInstances'), delete: of('TerminateInstances'), reimage: null }),
        throttled: () => ec2.throttledResponses,
        created: (pool) => Promise.resolve(ec2.launchedWith('sandfleet:pool', pool)),
        schedulerOptions: {},
        sustainedLaunches: EC2_BUDGET['RunInstances:instances'].perSecond,
        close: () => ec2.stop(),
      };
    }
    case 'azure': {
      const certificate = makeTestCertificate();
      const arm = new ArmEmulator({ certificate, operationMs: 2_000, bootDelayMs: BOOT_MS, seed: 1 });
      const endpoint = await arm.start();
      return {
        provider: 'azure',
        recycle: 'reimage',
        settings: {
          subscriptionId: SUBSCRIPTION,
          resourceGroup: 'rg-bench',
          location: 'westeurope',
          vmSize: 'Standard_D2s_v5',
          image: { publisher: 'Canonical', offer: 'ubuntu', sku: 'server' },
          subnetId: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`,
          sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE sandfleet',
          endpoint,
        },
        requests: () => armRequests(arm),
        throttled: () => arm.calls.filter((c) => c.throttled).length,
        created: () => Promise.resolve(arm.liveInstances().length),
        schedulerOptions: { azure: { credential: { getToken: () => Promise.resolve({ token: 'bench', expiresOnTimestamp: Date.now() + 3_600_000 }) }, tlsOptions: { ca: certificate.cert } } },
        close: () => arm.stop(),
      };
    }
  }
}

/** ARM requests by call class, as the scale set adapter makes them (long-running operations' polls count as describes). */
function armRequests(arm: ArmEmulator): Record<CallClass, number> {
  const counts: Record<CallClass, number> = { create: 0, describe: 0, stop: 0, delete: 0, reimage: 0 };
  for (const c of arm.calls) {
    const a = c.action.toLowerCase();
    if (c.method === 'PATCH' || (c.method === 'PUT' && a.endsWith('virtualmachinescalesets/write'))) counts.create++;
    else if (a.includes('/delete/action')) counts.delete++;
    else if (a.includes('reimage')) counts.reimage++;
    else if (a.includes('poweroff') || a.includes('deallocate')) counts.stop++;
    else if (c.method === 'GET') counts.describe++;
  }
  return counts;
}

async function count(database: TestDatabase, query: ReturnType<typeof sql>): Promise<number> {
  return Number((await database.db.execute(query)).rows[0]?.n ?? 0);
}

async function secondsUntil(from: number, check: () => Promise<boolean>, timeoutMs: number, failed: () => unknown = () => undefined): Promise<number> {
  while (!(await check())) {
    if (failed()) throw new Error(`the scheduler failed: ${String(failed())}`);
    if (Date.now() - from > timeoutMs) throw new Error(`not reached within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
  return (Date.now() - from) / 1000;
}
