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
} as const;
