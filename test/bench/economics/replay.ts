// Replays a trace in accelerated time against one in-process scheduler on the sim provider:
// one pool per (pool kind × policy), all fed the same arrivals at the same moments, so both
// policies share the machine they run on. Every duration of the trace and of the pools (boot,
// stop, terminate, runs, idle_timeout_s, the leaky bucket's interval, the supervision tick and
// the boot polling) is divided by `factor`.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { databaseUrlFromEnv, dropDatabase, migrateDatabase, openDatabase, type Database } from '../../../src/db/index.js';
import { upsertPool, type PoolDefinition } from '../../../src/machinery/index.js';
import type { AutoscalePolicy } from '../../../src/scheduler/policies/policy.js';
import { forecastPolicy } from '../../../src/scheduler/policies/forecast.js';
import { leakyBucketPolicy } from '../../../src/scheduler/policies/leaky-bucket.js';
import { migrateQueueSchema, type QueueBackend } from '../../../src/scheduler/queue.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { submit } from '../../../src/scheduler/submission.js';
import { clock, type Trace } from './trace.js';

export interface PoolKind {
  kind: string;
  label: string;
  bootS: number;
}

export const POOL_KINDS: PoolKind[] = [
  { kind: 'ec2', label: 'ec2-like', bootS: 40 },
  { kind: 'azure', label: 'azure-like', bootS: 90 },
];

export type PolicyName = 'sandfleet' | 'leaky-bucket';
export const POLICIES: PolicyName[] = ['sandfleet', 'leaky-bucket'];

export interface PoolShape {
  maxSize: number;
  minReady: number;
  /** Trace seconds (stored on the row as is; the policies divide by the factor). */
  idleTimeoutS: number;
  maxUses: number | null;
  recycle: 'reimage' | 'delete';
  /** Trace seconds. */
  stopS: number;
  terminateS: number;
}

export interface ReplayOptions {
  trace: Trace;
  factor: number;
  kinds: PoolKind[];
  pool: PoolShape;
  backend: QueueBackend;
  leaky: { intervalS: number; overprovision: number };
  /** Supervision tick and boot polling, trace seconds. */
  tickS: number;
  pollS: number;
  /** Database connections of the scheduler, and of the submitter. */
  connections: number;
  submitConnections: number;
  log: (line: string) => void;
  /** Ends the replay early (Ctrl-C): it throws, after closing the scheduler. */
  signal?: AbortSignal;
}

export interface BenchPool {
  name: string;
  kind: PoolKind;
  policy: PolicyName;
}

export interface LeakyEvaluation {
  pool: string;
  atS: number;
  demand: number;
  target: number;
}

export interface ReplayRun {
  pools: BenchPool[];
  /** Wall clock (ms) of trace second 0. */
  t0: number;
  /** Wall clock (ms) when the last task had ended. */
  endedAt: number;
  evaluations: LeakyEvaluation[];
  errors: string[];
}

export interface BenchDatabase extends Database {
  readonly name: string;
  /** Another pool of connections to the same database. */
  open(max: number, applicationName: string): Database;
  drop(): Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

/** A throwaway database for one run, migrated (and BullMQ's schema, for that backend). */
export async function createBenchDatabase(connections: number, queue: boolean): Promise<BenchDatabase> {
  const name = `sf_bench_economics_${randomBytes(4).toString('hex')}`;
  const url = new URL(databaseUrlFromEnv());
  url.pathname = `/${name}`;
  await migrateDatabase({ url: url.toString() });
  // A long connect timeout: on a busy server a burst can keep every connection busy for seconds,
  // which must slow the run down, not fail it.
  const database = openDatabase({ url: url.toString(), max: connections, applicationName: 'sandfleet-bench-economics', connectTimeoutMs: 120_000 });
  if (queue) await migrateQueueSchema(database);
  return {
    ...database,
    name,
    open: (max: number, applicationName: string) => openDatabase({ url: url.toString(), max, applicationName, connectTimeoutMs: 120_000 }),
    async drop() {
      await database.close();
      // Sockets the pool just closed may still be saying goodbye; DROP … WITH (FORCE) would cut
      // them, and BullMQ's closed queues would print the error.
      await sleep(500);
      await dropDatabase(url.toString(), name);
    },
  };
}

/**
 * `database` is the scheduler's; `submitter` (its own connections, as an API server would have)
 * carries the submissions, so a burst of them does not queue behind the scheduler's queries.
 */
export async function replay(database: Database, submitter: Database, options: ReplayOptions): Promise<ReplayRun> {
  const { trace, factor, pool: shape } = options;
  const wall = (traceS: number) => (traceS * 1000) / factor;
  const run = randomBytes(3).toString('hex');
  const pools: BenchPool[] = options.kinds.flatMap((kind) => POLICIES.map((policy) => ({ name: `${kind.kind}-${policy}-${run}`, kind, policy })));
  for (const p of pools) await upsertPool(database.db, definition(p, shape, factor));

  const evaluations: LeakyEvaluation[] = [];
  let t0 = Date.now();
  const sandfleet = forecastPolicy({ timeScale: factor });
  const leaky = leakyBucketPolicy({
    ...options.leaky,
    timeScale: factor,
    onEvaluate: (pool, demand, target, now) => evaluations.push({ pool, atS: ((now.getTime() - t0) * factor) / 1000, demand, target }),
  });
  const policyOf = new Map(pools.map((p) => [p.name, p.policy === 'sandfleet' ? sandfleet : leaky]));
  const byPool: AutoscalePolicy = { name: 'by-pool', plan: (pool, load, now) => (policyOf.get(pool.name) ?? sandfleet).plan(pool, load, now) };

  const errors: string[] = [];
  const slots = pools.length * shape.maxSize + 16;
  const id = randomBytes(4).toString('hex');
  const scheduler = new Scheduler({
    database,
    backend: options.backend,
    cluster: `econ${id}`,
    namespace: `econ${id}`,
    runConcurrency: slots,
    machineConcurrency: slots,
    pollIntervalMs: Math.max(2, wall(options.pollS)),
    superviseEveryMs: Math.max(2, wall(options.tickS)),
    autoscalePolicy: byPool,
    actor: 'economics',
    onError: (e) => {
      if (errors.length < 50) errors.push(String(e));
    },
  });

  // Submissions go out in arrival order, as many at once as the submitter has connections; their
  // lateness is measured.
  const backlog: (() => Promise<void>)[] = [];
  let inflight = 0;
  let drained: (() => void) | undefined;
  const pump = () => {
    while (inflight < options.submitConnections && backlog.length > 0) {
      const next = backlog.shift()!;
      inflight++;
      void next().finally(() => {
        inflight--;
        pump();
        if (inflight === 0 && backlog.length === 0) drained?.();
      });
    }
  };
  const allSubmitted = () => (inflight === 0 && backlog.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve)));
  const progress = async (nowS: number, note = '') => {
    try {
      options.log(`${clock(nowS)}  ${note}${await snapshot(database, pools)}`);
    } catch (error) {
      options.log(`${clock(nowS)}  (no snapshot: ${String(error)})`);
    }
  };
  try {
    scheduler.start();
    t0 = Date.now();
    scheduler.startSupervising();
    const horizonS = trace.hours * 3600;
    let nextReport = 3600;
    let k = 0;
    while (k < trace.tasks.length) {
      options.signal?.throwIfAborted();
      const nowS = ((Date.now() - t0) * factor) / 1000;
      if (nowS >= nextReport) {
        await progress(nowS);
        nextReport += 3600;
      }
      while (k < trace.tasks.length && trace.tasks[k]!.at <= nowS) {
        const task = trace.tasks[k++]!;
        for (const p of pools) {
          backlog.push(async () => {
            try {
              await submit(submitter.db, scheduler.deps.queues.runs, {
                pool: p.name,
                payload: { trace: { i: task.i, at: task.at, runS: task.runS }, sim: { durationMs: Math.round(wall(task.runS)) } },
              }, { actor: 'economics' });
            } catch (e) {
              if (errors.length < 50) errors.push(`submit: ${String(e)}`);
            }
          });
        }
      }
      pump();
      const next = trace.tasks[k];
      if (next) await sleep(Math.min(t0 + wall(next.at), t0 + wall(nextReport)) - Date.now(), options.signal);
    }
    await allSubmitted();
    // The trace is over; let the work finish (the window ends at the last task's end, or the trace's).
    options.log(`${clock(((Date.now() - t0) * factor) / 1000)}  all ${trace.tasks.length} tasks submitted to each pool; waiting for them to end`);
    const names = pools.map((p) => p.name);
    for (;;) {
      options.signal?.throwIfAborted();
      const open = await database.db
        .execute(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) AND state NOT IN ('completed', 'failed', 'timed_out', 'canceled')`)
        .then((r) => Number(r.rows[0]?.n), () => -1);
      const nowS = ((Date.now() - t0) * factor) / 1000;
      if (open === 0 && nowS >= horizonS) break;
      if (nowS >= nextReport) {
        await progress(nowS);
        nextReport += 3600;
      }
      if (nowS > horizonS + 12 * 3600 && open !== 0) throw new Error(`${open} tasks still open 12 trace hours after the trace ended`);
      await sleep(Math.max(5, wall(10)), options.signal);
    }
    const endedAt = Date.now();
    await progress(((endedAt - t0) * factor) / 1000, 'every task ended: ');
    return { pools, t0, endedAt, evaluations, errors };
  } finally {
    backlog.length = 0;
    await allSubmitted();
    await scheduler.close({ graceMs: 2000 });
  }
}

function definition(p: BenchPool, shape: PoolShape, factor: number): PoolDefinition {
  const ms = (traceS: number) => Math.round((traceS * 1000) / factor);
  return {
    name: p.name,
    provider: 'sim',
    settings: { bootDelayMs: ms(p.kind.bootS), stopDelayMs: ms(shape.stopS), terminateDelayMs: ms(shape.terminateS), terminatedVisibleS: 5 },
    platform: 'linux',
    arch: 'x86_64',
    tags: [p.kind.kind, p.policy],
    minReady: shape.minReady,
    maxSize: shape.maxSize,
    maxUses: shape.maxUses,
    // Whole trace seconds on the row; the policy divides by the factor.
    idleTimeoutS: shape.idleTimeoutS,
    recycle: shape.recycle,
    runner: { kind: 'sim' },
    readiness: { bootTimeoutS: Math.max(30, Math.ceil((10 * p.kind.bootS) / factor)) },
  };
}

/** One progress line: per pool, tasks queued/running and machines. */
async function snapshot(database: Database, pools: BenchPool[]): Promise<string> {
  const names = pools.map((p) => p.name);
  const tasks = await database.db.execute(sql`SELECT pool, count(*) FILTER (WHERE state = 'queued')::int AS q, count(*) FILTER (WHERE state IN ('assigned', 'running'))::int AS r, count(*) FILTER (WHERE state = 'completed')::int AS c FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool`);
  const machines = await database.db.execute(sql`SELECT pool, count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool`);
  return pools
    .map((p) => {
      const t = tasks.rows.find((r) => r.pool === p.name);
      const m = machines.rows.find((r) => r.pool === p.name);
      return `${p.kind.kind}/${p.policy === 'sandfleet' ? 'sf' : 'lb'} q${Number(t?.q ?? 0)} r${Number(t?.r ?? 0)} done${Number(t?.c ?? 0)} m${Number(m?.n ?? 0)}`;
    })
    .join(' | ');
}
