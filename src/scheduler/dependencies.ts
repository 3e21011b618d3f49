import type { Queue } from 'bullmq';
import type { PoolRow } from '../db/schema.js';
import type { ProviderName } from '../db/states.js';
import type { RateLimit } from '../machinery/index.js';
import type { LifecycleContext } from './lifecycle/context.js';
import type { ReadinessOptions } from './lifecycle/readiness.js';
import type { SchedulerLog, TaskObservation } from './log.js';
import type { MachineJob, RunJob, TaskJob } from './queue.js';
import type { Runner } from './runners/types.js';

/** What the job handlers share: the lifecycle context, the queues, and per-pool choices. */
export interface SchedulerDependencies {
  lifecycle: LifecycleContext;
  queues: { tasks: Queue<TaskJob>; runs: Queue<RunJob>; machines: Queue<MachineJob> };
  runnerFor: (pool: PoolRow) => Runner;
  readinessFor: (pool: PoolRow) => ReadinessOptions;
  /** Per provider kind; the bucket is per account (`ProviderRegistry.accountOf`). */
  machineRateLimits: Partial<Record<ProviderName, RateLimit>>;
  log: SchedulerLog;
  observeTask: (observation: TaskObservation) => void;
  /** How often a running task checks that its machine is still leased to it (cancel, watchdog). */
  leaseCheckMs: number;
}
