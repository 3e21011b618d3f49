// Wires queues, workers and handlers for one process. Several processes may run this against
// the same database (and Redis): BullMQ shares the jobs, the tables stay the truth.
import type { Worker } from 'bullmq';
import type { Database } from '../db/database.js';
import { errorMessage } from '../db/errors.js';
import type { MachineRow, PoolRow } from '../db/schema.js';
import { agentUserData, MachineCredentials } from './agent/credentials.js';
import type { ProviderName } from '../db/states.js';
import { databaseNow, reserveMachines, type RateLimit } from '../machinery/index.js';
import { DatabaseClock } from './database-clock.js';
import { agentSettingsOf, readinessForPool, runnerForPool } from './pool-settings.js';
import type { AutoscalePolicy } from './autoscaler.js';
import { CLOUD_RATE_LIMITS, SCHEDULER_DEFAULTS as D } from './defaults.js';
import type { CloudCallObserver } from './instrumented-provider.js';
import { SILENT, ThrottledLog, type SchedulerLog, type TaskObservation } from './log.js';
import type { SchedulerDependencies } from './dependencies.js';
import { DeferredClaims } from './deferred-claims.js';
import { startRuns } from './dispatcher.js';
import { LeaseWatch } from './lease-watch.js';
import type { ReadinessOptions } from './lifecycle/readiness.js';
import { delayWhenThrottled } from './job-delay.js';
import { runMachineJob } from './machine-job.js';
import { PoolCache } from './pool-cache.js';
import { PoolSlots } from './pool-slots.js';
import { ProviderRegistry, type ProviderOptions } from './providers.js';
import {
  addJobs,
  createQueue,
  createWorker,
  MACHINE_QUEUE,
  machineJob,
  RUN_QUEUE,
  type MachineJob,
  type QueueBackend,
  type QueueSettings,
  type RunJob,
  type WorkerTiming,
} from './queue.js';
import { runLease } from './run-job.js';
import { LeaderLeases } from './leader.js';
import { supervise } from './supervisor.js';
import { PolicyBook } from './policies/registry.js';
import { reconcile, type ReconcileOptions } from './reconciler.js';
import type { Runner } from './runners/types.js';
import { SecretRedactor } from './secrets.js';

const DEFAULT_RECONCILE: ReconcileOptions = { stuckAfterMs: D.stuckAfterS * 1000, leaseGraceMs: D.leaseGraceS * 1000, orphanGraceMs: D.orphanGraceS * 1000 };

export interface SchedulerOptions {
  database: Database;
  backend: QueueBackend;
  cluster: string;
  /** Separates queues of clusters (and tests) that share a database or Redis. */
  namespace?: string;
  /** Tasks running at once in this process. */
  runConcurrency?: number;
  /** Machine operations at once in this process. */
  machineConcurrency?: number;
  /** Default: the runner the pool's row names (`runnerForPool`). */
  runnerFor?: (pool: PoolRow) => Runner;
  /** The secrets to keep out of stored results and errors. Default: those in this process's environment. */
  secrets?: SecretRedactor;
  /** Default: the boot timeout and probe the pool's row names (`readinessForPool`). */
  readinessFor?: (pool: PoolRow) => ReadinessOptions;
  /** Cloud requests per provider account and bucket, shared by every daemon; given buckets replace the defaults (CLOUD_RATE_LIMITS). */
  cloudRateLimits?: Partial<Record<ProviderName, Readonly<Record<string, RateLimit>>>>;
  pollIntervalMs?: number;
  leaseCheckMs?: number;
  azure?: ProviderOptions['azure'];
  /** Names this process in events. */
  actor?: string;
  /** How often the pools this process leads are scaled and watched. */
  superviseEveryMs?: number;
  /** How every pool this process leads is scaled, overriding each pool's `autoscale` setting (benchmarks). Default: the policy each pool's row names (policies/registry.ts). */
  autoscalePolicy?: AutoscalePolicy;
  /** Grace past a task's timeout before the watchdog ends it. */
  deadlineGraceS?: number;
  /** How often the pools this process leads are reconciled with the queue and the cloud. */
  reconcileEveryMs?: number;
  reconcile?: Partial<ReconcileOptions>;
  /** At most this many machines across all pools (each pool's max_size still applies). */
  maxMachinesTotal?: number;
  /** BullMQ lock and stall detection: how fast a dead process's jobs are taken over. */
  workerTiming?: WorkerTiming;
  /** Structured log lines with task, machine and pool ids (a pino logger fits). */
  log?: SchedulerLog;
  /** Task starts and ends, for metrics. */
  observeTask?: (observation: TaskObservation) => void;
  /** Every cloud call, for metrics. */
  observeCalls?: CloudCallObserver;
  /** How long a cloud call may go unanswered before it ends as a transient error. */
  cloudCallTimeoutMs?: number;
  /** Errors of the supervision loop, which must not stop it (the daemon logs them). */
  onError?: (error: unknown) => void;
  /** The API address agents are told to call when their pool names none (the daemon's, once it listens). */
  agentApiUrl?: string;
}


/** The workers a scheduler runs (one per queue) and how many jobs each runs at once; the daemon sizes its database pool from them. */
export function schedulerWorkers(options: Pick<SchedulerOptions, 'runConcurrency' | 'machineConcurrency'>): { queue: 'runs' | 'machines'; concurrency: number }[] {
  return [
    { queue: 'runs', concurrency: options.runConcurrency ?? D.runConcurrency },
    { queue: 'machines', concurrency: options.machineConcurrency ?? D.machineConcurrency },
  ];
}

export class Scheduler {
  readonly deps: SchedulerDependencies;
  readonly leases: LeaderLeases;
  /** Signs and checks the credentials agent pools' machines are handed. */
  readonly credentials: MachineCredentials;
  /** Claims a busy claim turn left for after a commit (submissions and machine jobs of this process). */
  readonly claims: DeferredClaims;
  /** Where agents are told to call when their pool names no address; the daemon sets it once it listens. */
  agentApiUrl: string | undefined;
  private readonly workers: Worker[] = [];
  private supervising: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private tick: Promise<void> = Promise.resolve();
  /** When each pool was last reconciled by this process. */
  private readonly reconciledAt = new Map<string, number>();
  /** The scaling policies the pools' rows name. */
  private readonly policies = new PolicyBook();
  /** Pools whose supervision is under way: a tick leaves them be rather than wait on them. */
  private readonly poolsInFlight = new Map<string, Promise<void>>();
  /** Pools this process has recovered since it began leading them. */
  private readonly recovered = new Set<string>();

  constructor(private readonly options: SchedulerOptions) {
    const settings = this.queueSettings();
    const db = options.database.db;
    const log = options.log ?? SILENT;
    this.credentials = new MachineCredentials(db);
    this.agentApiUrl = options.agentApiUrl;
    const queues = { runs: createQueue<RunJob>(RUN_QUEUE, settings), machines: createQueue<MachineJob>(MACHINE_QUEUE, settings) };
    this.claims = new DeferredClaims(db, queues.runs, options.actor ?? 'scheduler', (error) =>
      log.warn({ err: errorMessage(error) }, 'a deferred claim failed (the reconciler claims for the pool)'),
    );
    const poolSlots = new PoolSlots(options.machineConcurrency ?? D.machineConcurrency);
    this.deps = {
      lifecycle: {
        db,
        pools: new PoolCache(db),
        providers: new ProviderRegistry({
          db,
          cluster: options.cluster,
          ...(options.azure ? { azure: options.azure } : {}),
          ...(options.observeCalls ? { observeCalls: options.observeCalls } : {}),
          rateLimits: withDefaults(options.cloudRateLimits ?? {}),
          callTimeoutMs: options.cloudCallTimeoutMs ?? D.cloudCallTimeoutMs,
          onTimeout: (pool, operation) => {
            poolSlots.markSlow(pool);
            log.warn({ pool, operation }, 'cloud call timed out (retried; the pool holds fewer worker slots for a while)');
          },
        }),
        actor: options.actor ?? 'scheduler',
        clock: new DatabaseClock(() => databaseNow(db)),
        startRuns: (pool, leases) => startRuns(queues.runs, pool, leases),
        claimLater: (pool) => this.claims.request(pool),
        userDataFor: (pool, machine) => this.agentUserData(pool, machine),
        pollIntervalMs: options.pollIntervalMs ?? D.pollIntervalMs,
      },
      queues,
      runnerFor: options.runnerFor ?? runnerForPool,
      readinessFor: options.readinessFor ?? readinessForPool,
      secrets: options.secrets ?? SecretRedactor.fromEnvironment(process.env),
      log,
      observeTask: options.observeTask ?? (() => {}),
      poolSlots,
      leaseWatch: new LeaseWatch(db, options.leaseCheckMs ?? D.leaseCheckMs, (error) => log.warn({ err: errorMessage(error) }, 'lease check failed (retried next interval)')),
    };
    this.leases = new LeaderLeases(options.database, options.cluster);
  }

  /** Scales and watches, on a timer, every active pool whose leader lease this process holds. */
  startSupervising(): void {
    const every = this.options.superviseEveryMs ?? D.superviseEveryMs;
    const loop = () => {
      // The timer waits for the pools' reading and the starts, never for a pool's supervision.
      this.tick = this.startPools().then(
        () => undefined,
        (error: unknown) => this.options.onError?.(error),
      );
      void this.tick.then(() => {
        if (this.supervising) this.supervising = setTimeout(loop, every);
      });
    };
    this.supervising = setTimeout(loop, 0);
  }

  /** One tick, waited for: supervises every pool not still busy from an earlier tick. */
  async superviseOnce(): Promise<void> {
    await Promise.all(await this.startPools());
  }

  /**
   * Starts the supervision of each pool on its own, so one pool's hung or throttled cloud
   * delays neither another pool's scaling nor its deadline watchdog; a pool still busy from an
   * earlier tick is left to finish.
   */
  private async startPools(): Promise<Promise<void>[]> {
    const started: Promise<void>[] = [];
    // One read of every pool per tick, which also keeps the hot path's pool cache fresh.
    for (const pool of await this.deps.lifecycle.pools.refresh()) {
      if (this.poolsInFlight.has(pool.name)) continue;
      const run = this.supervisePool(pool.name).finally(() => this.poolsInFlight.delete(pool.name));
      this.poolsInFlight.set(pool.name, run);
      started.push(run);
    }
    return started;
  }

  private async supervisePool(pool: string): Promise<void> {
    // One pool's trouble (its cloud down, a bad setting) must not stop the others' supervision.
    try {
      if (!(await this.leases.tryLead(pool))) {
        this.recovered.delete(pool);
        return;
      }
      const options = { ...DEFAULT_RECONCILE, ...this.options.reconcile };
      if (!this.recovered.has(pool)) {
        // Startup recovery, also run when the lease moves here from a dead daemon: nobody may be
        // left to finish what the tables show in flight, so resume it all now rather than after
        // the stuck thresholds. Converge and the run jobs are safe to run twice.
        await reconcile(this.deps, pool, { ...options, stuckAfterMs: 0, leaseGraceMs: 0 });
        this.recovered.add(pool);
        this.reconciledAt.set(pool, Date.now());
      }
      const scaled = await supervise(this.deps, pool, {
        provision: (p, n) => this.provision(p, n),
        deadlineGraceS: this.options.deadlineGraceS ?? D.deadlineGraceS,
        policyFor: (row) => this.options.autoscalePolicy ?? this.policies.for(row),
      });
      if (scaled.created + scaled.dispatched + scaled.drained + scaled.timedOut > 0) this.deps.log.info({ pool, ...scaled }, 'pool scaled');
      if (Date.now() - (this.reconciledAt.get(pool) ?? 0) >= (this.options.reconcileEveryMs ?? D.reconcileEveryS * 1000)) {
        this.reconciledAt.set(pool, Date.now());
        const report = await reconcile(this.deps, pool, options);
        if (report.runJobsRestored + report.resumed + report.lost + report.orphansDeleted > 0) this.deps.log.warn({ pool, ...report }, 'reconciled drift');
      }
    } catch (error) {
      this.options.onError?.(new Error(`pool ${pool}: ${errorMessage(error)}`));
    }
  }

  /** Starts this process's workers. */
  start(): void {
    const settings = this.queueSettings();
    const deps = this.deps;
    const [runs, machines] = schedulerWorkers(this.options);
    // Read the database's time now rather than inside the first boot's wait; a failure here only
    // leaves that read to the first use.
    deps.lifecycle.clock.refresh().catch(() => {});
    this.workers.push(
      // A throttled cloud call after the verdict delays the run job; its repeat only converges the machine.
      createWorker<RunJob>(RUN_QUEUE, settings, (job, token) => delayWhenThrottled(job, token, () => runLease(deps, job.data)), runs!.concurrency, this.options.workerTiming),
      createWorker<MachineJob>(MACHINE_QUEUE, settings, (job, token) => runMachineJob(deps, job, token), machines!.concurrency, this.options.workerTiming),
    );
  }

  private queueSettings(): QueueSettings {
    const log = new ThrottledLog(this.options.log ?? SILENT);
    return {
      database: this.options.database,
      backend: this.options.backend,
      ...(this.options.namespace ? { namespace: this.options.namespace } : {}),
      // BullMQ reconnects and retries by itself; the operator hears of it in our log.
      onError: (error, queue) => log.warn(`${queue}:${errorMessage(error).slice(0, 100)}`, { queue, err: errorMessage(error) }, 'queue error (BullMQ retries)'),
    };
  }

  /** An agent pool's instance is handed its machine's credential and where to call. */
  private async agentUserData(pool: PoolRow, machine: MachineRow): Promise<string | undefined> {
    const agent = agentSettingsOf(pool);
    if (!agent) return undefined;
    const apiUrl = agent.apiUrl ?? this.agentApiUrl;
    if (!apiUrl) throw new Error(`pool ${pool.name} runs agents but no API address is known for them: set runner.api_url`);
    return agentUserData(apiUrl, machine.id, await this.credentials.issue(machine.id));
  }

  /** Reserves up to `count` machines of the pool (never past max_size) and queues their creation. */
  async provision(pool: string, count: number): Promise<number> {
    const { machines } = await reserveMachines(this.deps.lifecycle.db, pool, count, { actor: this.deps.lifecycle.actor, globalLimit: this.options.maxMachinesTotal });
    await addJobs(this.deps.queues.machines, machines.map((m) => machineJob('provision', m.id, m.version)));
    return machines.length;
  }

  /**
   * Stops taking work: supervision, pool leases and workers end, letting running jobs finish for
   * up to `graceMs`; what is still running then is abandoned to BullMQ's stalled-job recovery (or
   * our reconciler), which another process, or this one's next start, resumes from the tables.
   * The queues stay open, so submissions still land while a daemon drains. Idempotent.
   */
  stopWorking(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.drainWorkers(options.graceMs ?? 30_000);
    return this.stopping;
  }

  async close(options: { graceMs?: number } = {}): Promise<void> {
    await this.stopWorking(options);
    await this.claims.settled();
    const q = this.deps.queues;
    await Promise.all([q.runs.close(), q.machines.close()]);
  }

  private async drainWorkers(graceMs: number): Promise<void> {
    clearTimeout(this.supervising);
    this.supervising = undefined;
    await this.tick;
    // A pool waiting on its cloud holds up shutdown no longer than the grace.
    await Promise.race([Promise.all(this.poolsInFlight.values()), after(graceMs)]);
    await this.leases.close();
    const workers = this.workers.splice(0);
    const graceful = Promise.all(workers.map((w) => w.close()));
    if ((await Promise.race([graceful, after(graceMs)])) === 'late') {
      // Past the grace period: cut the workers' connections rather than wait on them.
      await Promise.race([Promise.all(workers.map((w) => w.disconnect())), after(2000)]);
    }
    // Runs abandoned past the grace must not keep checking their leases.
    this.deps.leaseWatch.stop();
  }
}

/** Each provider kind's buckets: the defaults, with the ones given replacing theirs. */
function withDefaults(given: Partial<Record<ProviderName, Readonly<Record<string, RateLimit>>>>): Partial<Record<ProviderName, Readonly<Record<string, RateLimit>>>> {
  const kinds = new Set([...Object.keys(CLOUD_RATE_LIMITS), ...Object.keys(given)] as ProviderName[]);
  return Object.fromEntries([...kinds].map((kind) => [kind, { ...CLOUD_RATE_LIMITS[kind], ...given[kind] }]));
}

function after(ms: number): Promise<'late'> {
  return new Promise((resolve) => setTimeout(() => resolve('late'), ms).unref());
}
