// A scheduler process for the multi-process tests: runs until killed (or SIGTERM, then closes).
// Configured through the environment by the test that spawns it.
import { openDatabase } from '../../src/db/index.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { QueueBackend } from '../../src/scheduler/queue.js';

const env = process.env;
const database = openDatabase({ url: env.DATABASE_URL!, max: 12, applicationName: `sandfleet-test-worker-${env.WORKER_NAME}` });
const backend: QueueBackend = env.QUEUE_BACKEND === 'redis' ? { kind: 'redis', url: env.REDIS_URL!, prefix: env.REDIS_PREFIX! } : { kind: 'postgres' };
const scheduler = new Scheduler({
  database,
  backend,
  cluster: env.CLUSTER!,
  namespace: env.NAMESPACE!,
  actor: `worker-${env.WORKER_NAME}`,
  // Runner and boot timeout come from the pool rows, as in production.
  runConcurrency: 8,
  pollIntervalMs: 20,
  leaseCheckMs: 100,
  superviseEveryMs: 100,
  deadlineGraceS: Number(env.DEADLINE_GRACE_S ?? 30),
  reconcileEveryMs: 1000,
  reconcile: { stuckAfterMs: 5000, leaseGraceMs: 5000, orphanGraceMs: 10_000 },
  workerTiming: { lockDurationMs: 3000, stalledIntervalMs: 1000 },
  onError: (error) => console.error(`supervision: ${error instanceof Error ? error.message : String(error)}`),
});
scheduler.start();
scheduler.startSupervising();
console.log('ready');
process.on('SIGTERM', () => {
  void scheduler.close({ graceMs: 5000 }).then(() => database.close()).then(() => process.exit(0));
});
