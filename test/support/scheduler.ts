// A scheduler for in-process tests: its own cluster and queue namespace, the sim runner, and
// short polling intervals. Tests override what they exercise.
import { randomUUID } from 'node:crypto';
import type { Database } from '../../src/db/index.js';
import type { QueueBackend } from '../../src/scheduler/queue.js';
import { SimRunner } from '../../src/scheduler/runners/sim-runner.js';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.js';

export function testScheduler(database: Database, backend: QueueBackend, overrides: Partial<SchedulerOptions> = {}): Scheduler {
  const id = randomUUID().slice(0, 8);
  return new Scheduler({
    database,
    backend,
    cluster: `c${id}`,
    namespace: `n${id}`,
    runnerFor: () => new SimRunner({ minDurationMs: 5, maxDurationMs: 40 }),
    readinessFor: () => ({ bootTimeoutMs: 10_000 }),
    pollIntervalMs: 10,
    leaseCheckMs: 20,
    superviseEveryMs: 50,
    ...overrides,
  });
}
