import type { Queue } from 'bullmq';
import type { PoolRow } from '../db/schema.js';
import type { LeaseWatch } from './lease-watch.js';
import type { LifecycleContext } from './lifecycle/context.js';
import type { ReadinessOptions } from './lifecycle/readiness.js';
import type { SchedulerLog, TaskObservation } from './log.js';
import type { PoolSlots } from './pool-slots.js';
import type { MachineJob, RunJob } from './queue.js';
import type { Runner } from './runners/types.js';
import type { SecretRedactor } from './secrets.js';

/** What the job handlers share: the lifecycle context, the queues, and per-pool choices. */
export interface SchedulerDependencies {
  lifecycle: LifecycleContext;
  queues: { runs: Queue<RunJob>; machines: Queue<MachineJob> };
  runnerFor: (pool: PoolRow) => Runner;
  readinessFor: (pool: PoolRow) => ReadinessOptions;
  log: SchedulerLog;
  observeTask: (observation: TaskObservation) => void;
  /** Every lease this process runs, checked with one query per interval (cancel, watchdog, lost machine). */
  leaseWatch: LeaseWatch;
  /** The machine worker's slots per pool: none may take them all, a pool whose cloud stopped answering gets a quarter. */
  poolSlots: PoolSlots;
  /** The daemon's secret values, redacted from what a run returns before it is stored or logged. */
  secrets: SecretRedactor;
}
