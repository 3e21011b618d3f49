// The job queues, on BullMQ 6 with either backend behind one API: PostgreSQL (default: the
// `bullmq` schema of our own database, through the process's one pool) or Redis. Postgres
// tables stay the truth; jobs only say "run lease X / bring machine Y to rest now". Every job's
// name, id and options are made here.
import { createPostgresBackend, Queue, runMigrations, Worker, type BulkJobOptions, type ConnectionOptions, type PgPool, type Processor } from 'bullmq';

import type { Database } from '../db/database.js';
import { withoutValues } from '../db/errors.js';

export type QueueBackend = { kind: 'postgres' } | { kind: 'redis'; url: string; prefix?: string };

/** One job per lease (jobId = task id + attempt, so enqueueing twice is a no-op): run the task on its machine, then tear down. */
export const RUN_QUEUE = 'sandfleet-runs';
/** Machine operations: provision (and boot), tear down a drained or failed machine. */
export const MACHINE_QUEUE = 'sandfleet-machines';

export interface QueueSettings {
  database: Database;
  backend: QueueBackend;
  /** Isolates queues of different clusters (and of tests) sharing one Redis or database. */
  namespace?: string;
  /**
   * Hears the queues' and workers' own errors (a lost connection, a failed poll). BullMQ retries
   * by itself; without a listener it prints the raw error object to stderr instead of our log.
   */
  onError?: (error: Error, queue: string) => void;
}

export interface RunJob {
  taskId: string;
  machineId: string;
  pool: string;
  /** The leased machine as the runner needs it (what to reach); never written back. Absent on a restored job. */
  machine?: { name: string; ip: string | null };
}

export interface MachineJob {
  /** What the job was queued for; the handler drives the machine to rest either way. */
  op: 'provision' | 'retire' | 'resume';
  machineId: string;
}

/** BullMQ job ids may not contain ':' (Redis key separator). */
export const runJobId = (taskId: string, attempt: number) => `run.${taskId}.${attempt}`;
export const machineJobId = (op: MachineJob['op'], machineId: string, version: number) => `${op}.${machineId}.${version}`;

/** Every step of a run or machine job is conditional, so a job may be retried from anywhere. */
export const RUN_JOB_OPTIONS = { attempts: 8, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: 1000, removeOnFail: 5000 } as const;
export const MACHINE_JOB_OPTIONS = RUN_JOB_OPTIONS;

export interface QueuedJob<Data> {
  name: string;
  data: Data;
  opts: BulkJobOptions;
}

/** The run job of a lease (its task's attempt names it). */
export function runJob(lease: { task: { id: string; attempts: number; pool: string }; machine?: { id: string; name: string; ip: string | null } }, machineId = lease.machine?.id): QueuedJob<RunJob> {
  if (!machineId) throw new Error(`run job of task ${lease.task.id} needs its machine`);
  const machine = lease.machine ? { machine: { name: lease.machine.name, ip: lease.machine.ip } } : {};
  return { name: 'run', data: { taskId: lease.task.id, machineId, pool: lease.task.pool, ...machine }, opts: { ...RUN_JOB_OPTIONS, jobId: runJobId(lease.task.id, lease.task.attempts) } };
}

/** A machine job; its id includes the machine's version, so repeats of one step collapse. */
export function machineJob(op: MachineJob['op'], machineId: string, version: number): QueuedJob<MachineJob> {
  return { name: op, data: { op, machineId }, opts: { ...MACHINE_JOB_OPTIONS, jobId: machineJobId(op, machineId, version) } };
}

/** Adds jobs in one call (one statement on the PostgreSQL backend); nothing to add costs nothing. */
/** The part of a BullMQ Queue that adds jobs (what every Queue<Data> offers for its own Data). */
export interface JobSink<Data> {
  add(name: string, data: Data, opts: BulkJobOptions): Promise<unknown>;
  addBulk(jobs: QueuedJob<Data>[]): Promise<unknown>;
}

export async function addJobs<Data>(queue: JobSink<Data>, jobs: QueuedJob<Data>[]): Promise<void> {
  if (jobs.length === 0) return;
  const [only] = jobs;
  if (jobs.length === 1 && only) await queue.add(only.name, only.data, only.opts);
  else await queue.addBulk(jobs);
}

export function createQueue<Data>(name: string, settings: QueueSettings): Queue<Data> {
  const qualified = queueName(name, settings);
  const queue =
    settings.backend.kind === 'postgres'
      ? // BullMQ types each backend's Queue separately; ours are used only through the common API.
        borrowingPool(settings, () => new Queue(qualified, { connection: sharedPool(settings) }, createPostgresBackend) as unknown as Queue<Data>)
      : new Queue<Data>(qualified, redisOptions(settings.backend));
  return hearErrors(queue, qualified, settings);
}

export interface WorkerTiming {
  /** How long a job's lock lasts without renewal: a dead worker's jobs are taken over after this. */
  lockDurationMs?: number;
  /** How often stalled jobs (their worker died) are looked for. */
  stalledIntervalMs?: number;
}

export function createWorker<Data>(name: string, settings: QueueSettings, processor: Processor<Data>, concurrency: number, timing: WorkerTiming = {}): Worker<Data> {
  const qualified = queueName(name, settings);
  const common = {
    concurrency,
    ...(timing.lockDurationMs ? { lockDuration: timing.lockDurationMs } : {}),
    ...(timing.stalledIntervalMs ? { stalledInterval: timing.stalledIntervalMs } : {}),
  };
  // BullMQ keeps a failed job's message as its failedReason: a database error's goes without its values.
  const safe: Processor<Data> = async (job, token, signal) => {
    try {
      return (await processor(job, token, signal)) as unknown;
    } catch (error) {
      throw withoutValues(error);
    }
  };
  const worker =
    settings.backend.kind === 'postgres'
      ? borrowingPool(settings, () => new Worker(qualified, safe as Processor, { connection: sharedPool(settings), ...common }, createPostgresBackend) as unknown as Worker<Data>)
      : new Worker<Data>(qualified, safe, { ...redisOptions(settings.backend), ...common });
  return hearErrors(worker, qualified, settings);
}

function hearErrors<Emitter extends { on(event: 'error', listener: (error: Error) => void): unknown }>(emitter: Emitter, queue: string, settings: QueueSettings): Emitter {
  const onError = settings.onError;
  if (onError) emitter.on('error', (error: unknown) => onError(error instanceof Error ? error : new Error(String(error)), queue));
  return emitter;
}

/** BullMQ's own schema migrations for the PostgreSQL backend, run by `sandfleet migrate`. */
export async function migrateQueueSchema(database: Database): Promise<void> {
  const client = await database.pool.connect();
  try {
    await runMigrations(client);
  } finally {
    client.release();
  }
}

function queueName(name: string, settings: QueueSettings): string {
  return settings.namespace ? `${settings.namespace}-${name}` : name;
}

/**
 * A queue or worker on the process's pool, which takes back on close the 'error' listener
 * BullMQ's PostgreSQL connection adds to a pool it borrows and never removes (bullmq 6.7.0).
 * Without this each queue or worker made and closed on one pool (a scheduler restarted in the
 * same process, every CLI command in a test run) left one behind: a leak, and past ten Node's
 * MaxListenersExceededWarning on the pool.
 */
function borrowingPool<Made extends { close(...args: never[]): Promise<void> }>(settings: QueueSettings, make: () => Made): Made {
  const pool = settings.database.pool;
  const before = new Set(pool.listeners('error'));
  const made = make();
  const added = pool.listeners('error').filter((listener) => !before.has(listener)) as ((error: Error) => void)[];
  const closable = made as unknown as { close: (...args: unknown[]) => Promise<void> };
  const close = closable.close.bind(made);
  // Worker.close(force) keeps its argument.
  closable.close = async (...args: unknown[]) => {
    try {
      await close(...args);
    } finally {
      for (const listener of added) pool.removeListener('error', listener);
    }
  };
  return made;
}

/** The process's one pool (DESIGN rule 5): BullMQ borrows connections from it. */
function sharedPool(settings: QueueSettings): PgPool {
  return settings.database.pool;
}

function redisOptions(backend: { url: string; prefix?: string }): { connection: ConnectionOptions; prefix: string } {
  const url = new URL(backend.url);
  return {
    connection: {
      host: url.hostname,
      port: Number(url.port || 6379),
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      db: Number(url.pathname.replace('/', '') || 0),
      // BullMQ workers block on Redis; they must not give up on a command.
      maxRetriesPerRequest: null,
    },
    prefix: backend.prefix ?? 'sandfleet',
  };
}
