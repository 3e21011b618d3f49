// The scheduler's defaults, defined once: the config schema (src/config) and a Scheduler built
// without a config (tests, the demo) both take them from here.
import type { ProviderName } from '../db/states.js';
import type { BucketLimit } from '../providers/budget.js';
import { ARM_BUDGET, EC2_BUDGET } from '../providers/cloud-budgets.js';

export const SCHEDULER_DEFAULTS = {
  runConcurrency: 32,
  machineConcurrency: 16,
  deadlineGraceS: 30,
  shutdownGraceS: 30,
  superviseEveryMs: 1000,
  reconcileEveryS: 30,
  stuckAfterS: 300,
  leaseGraceS: 60,
  jobLockS: 30,
  orphanGraceS: 600,
  /** How often one query checks every lease this process runs. */
  leaseCheckMs: 1000,
  /** How often the provider is asked while an instance boots, stops or goes. */
  pollIntervalMs: 1000,
  /** A cloud call unanswered this long ends as a transient error (a create batch of hundreds answers well within it). */
  cloudCallTimeoutMs: 60_000,
} as const;

/** How long finished tasks and old events are kept (days), and how the daemon prunes them. */
export const RETENTION_DEFAULTS = {
  tasksDays: 30,
  eventsDays: 90,
  /** One pass an interval, of batches of this many rows, at most `maxBatches` of each kind, so pruning never holds locks long or crowds out work. */
  everyMs: 60_000,
  batch: 500,
  maxBatches: 20,
} as const;

/**
 * sandfleet's own request budget per provider account and bucket, shared by every daemon
 * (rate_buckets): the clouds' documented request budgets (src/providers/cloud-budgets.ts) with
 * one second of refill held back from the burst. A request reaches the cloud a little after its
 * token was taken, and a cloud bucket that sat full meanwhile lost that lag's refill; the margin
 * covers lags up to a second, so sandfleet alone never meets the cloud's throttling. Lower them
 * where other callers spend from the same account. The sim cloud is unmetered.
 */
export const CLOUD_RATE_LIMITS: Readonly<Partial<Record<ProviderName, Readonly<Record<string, BucketLimit>>>>> = {
  aws: heldBack(EC2_BUDGET),
  azure: heldBack(ARM_BUDGET),
};

/** A budget with one second of refill held back from each bucket's burst (see CLOUD_RATE_LIMITS). */
export function heldBack<K extends string>(limits: Readonly<Record<K, BucketLimit>>): Record<K, BucketLimit> {
  return Object.fromEntries(Object.entries<BucketLimit>(limits).map(([name, l]) => [name, { perSecond: l.perSecond, burst: Math.max(1, l.burst - Math.ceil(l.perSecond)) }])) as Record<K, BucketLimit>;
}

/**
 * A claim that is not bound to one task (a machine becoming ready, the reconciler's sweep) leases
 * at most this many at once, so one claim never holds many rows locked for long.
 */
export const MAX_LEASES_PER_CLAIM = 200;
