// How many connections the daemon's one database pool needs, from what the process runs. On the
// PostgreSQL queue backend, BullMQ borrows from this pool: each Worker holds one connection for
// the life of the process (its LISTEN client, checked out of a pool it does not own) and polls
// through the pool (fetching jobs, renewing locks, looking for stalled jobs); a Queue (producer)
// holds none. The leader lease holds one connection for good. Each running handler needs one at
// a time. What is left (supervision, the API and its readiness probe, metrics) gets a few more.
//
// `database.pool_size` is a floor: the pool is max(pool_size, needed). A pool smaller than the
// configured concurrency does not fail at start but later, handlers waiting out the connect
// timeout while the listeners and the lease hold their connections; so the figure the
// concurrency needs wins, and the daemon says how it got it. Lower the concurrency to use fewer.
import type { Config } from '../config/schema.js';
import { schedulerWorkers } from '../scheduler/scheduler.js';

export interface WorkerDemand {
  queue: string;
  /** Jobs the worker runs at once: each handler holds at most one connection at a time. */
  concurrency: number;
}

export interface PoolDemand {
  /** `database.pool_size`: the operator's figure, a floor. */
  configured: number;
  /** On `postgres` every worker keeps a LISTEN connection of this pool and polls through it. */
  queueBackend: 'postgres' | 'redis';
  /** The workers this process runs, one per queue. */
  workers: readonly WorkerDemand[];
  /** Agent pools: one LISTEN connection wakes agents waiting for their machine's lease. */
  leaseListener?: boolean;
}

export interface PoolPlan {
  /** The pool's `max`. */
  size: number;
  needed: number;
  configured: number;
  listeners: number;
  leaderLock: number;
  leaseListener: number;
  handlers: number;
  queuePolls: number;
  spare: number;
  /** One line for the start log: the size and how it was derived. */
  summary: string;
}

/** Connections for the rest: supervision (one pool at a time), the API and its readiness probe, metrics. */
export const SPARE_CONNECTIONS = 4;

export function planPool(demand: PoolDemand): PoolPlan {
  const onPostgres = demand.queueBackend === 'postgres';
  const listeners = onPostgres ? demand.workers.length : 0;
  const queuePolls = onPostgres ? demand.workers.length : 0;
  const leaderLock = 1;
  const leaseListener = demand.leaseListener ? 1 : 0;
  const handlers = demand.workers.reduce((sum, w) => sum + w.concurrency, 0);
  const spare = SPARE_CONNECTIONS;
  const needed = listeners + leaderLock + leaseListener + handlers + queuePolls + spare;
  const size = Math.max(demand.configured, needed);
  const perWorker = demand.workers.map((w) => `${w.queue} ${w.concurrency}`).join(', ');
  const parts = [
    ...(onPostgres ? [`${listeners} queue listeners`] : []),
    `${leaderLock} leader lock`,
    ...(leaseListener ? [`${leaseListener} lease listener`] : []),
    `${handlers} handlers (${perWorker})`,
    ...(onPostgres ? [`${queuePolls} queue polls`] : []),
    `${spare} spare`,
  ].join(' + ');
  const verdict = demand.configured >= needed ? `database.pool_size ${demand.configured} covers them` : `database.pool_size ${demand.configured} raised to that`;
  const where = onPostgres ? '' : ', queues on Redis';
  const summary = `database pool: ${size} connections (${parts} = ${needed} needed${where}; ${verdict})`;
  return { size, needed, configured: demand.configured, listeners, leaderLock, leaseListener, handlers, queuePolls, spare, summary };
}

/** What the daemon runs, from its config: the workers Scheduler.start() creates, one per queue. */
export function daemonPoolDemand(config: Pick<Config, 'database' | 'queue' | 'scheduler' | 'pools'>): PoolDemand {
  return {
    leaseListener: config.pools.some((p) => p.runner.kind === 'agent'),
    configured: config.database.pool_size,
    queueBackend: config.queue.backend,
    workers: schedulerWorkers({ runConcurrency: config.scheduler.run_concurrency, machineConcurrency: config.scheduler.machine_concurrency }),
  };
}
