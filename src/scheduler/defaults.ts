// The scheduler's defaults, defined once: the config schema (src/config) and a Scheduler built
// without a config (tests, the demo) both take them from here.
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

/**
 * Machine jobs started per second per provider account, shared by every daemon. EC2's mutating
 * API refills at a few calls a second per region and a machine job makes about two; Azure's
 * per-subscription write limit is similar per minute. The sim cloud is unlimited.
 */
export const MACHINE_RATE_LIMITS = { aws: { perSecond: 10, burst: 20 }, azure: { perSecond: 10, burst: 20 } } as const;

/**
 * A claim that is not bound to one task (a machine becoming ready, the reconciler's sweep) leases
 * at most this many at once, so one claim never holds many rows locked for long.
 */
export const MAX_LEASES_PER_CLAIM = 200;
