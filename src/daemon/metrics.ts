// Prometheus metrics: machines by pool and state and queued tasks (read from the tables at each
// scrape, so every daemon reports the same truth), queue jobs, task wait and run time, transitions
// and conflicts, and cloud calls by provider, operation and outcome.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db/database.js';
import { machineCounts, observeTransitions, queuedTaskCounts } from '../machinery/index.js';
import type { CloudCall } from '../scheduler/instrumented-provider.js';
import type { TaskObservation } from '../scheduler/log.js';
import type { SchedulerDependencies } from '../scheduler/dependencies.js';

export interface DaemonMetrics {
  registry: Registry;
  observeTask: (observation: TaskObservation) => void;
  observeCall: (call: CloudCall) => void;
  /** An agent credential refused (missing, invalid, or of a machine that no longer lives). */
  agentRefused: (reason: string) => void;
  /** Binds the gauges read at scrape time to the database and queues. */
  bind: (db: Db, queues: SchedulerDependencies['queues']) => void;
  close: () => void;
}

export function createMetrics(): DaemonMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sandfleet_process_' });
  let source: { db: Db; queues: SchedulerDependencies['queues'] } | null = null;

  new Gauge({
    name: 'sandfleet_machines',
    help: 'Machines by pool and state',
    labelNames: ['pool', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!source) return;
      for (const c of await machineCounts(source.db)) this.set({ pool: c.pool, state: c.state }, c.count);
    },
  });
  new Gauge({
    name: 'sandfleet_tasks_queued',
    help: 'Tasks waiting for a machine, by pool',
    labelNames: ['pool'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!source) return;
      for (const c of await queuedTaskCounts(source.db)) this.set({ pool: c.pool }, c.count);
    },
  });
  new Gauge({
    name: 'sandfleet_queue_jobs',
    help: 'BullMQ jobs by queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!source) return;
      for (const [name, queue] of Object.entries(source.queues)) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
      }
    },
  });
  const wait = new Histogram({ name: 'sandfleet_task_wait_seconds', help: 'Submission to start', labelNames: ['pool'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers: [registry] });
  const run = new Histogram({ name: 'sandfleet_task_run_seconds', help: 'Start to verdict', labelNames: ['pool', 'outcome'], buckets: [0.1, 1, 10, 60, 300, 900, 3600, 14_400], registers: [registry] });
  const transitions = new Counter({ name: 'sandfleet_transitions_total', help: 'State transitions made', labelNames: ['entity', 'to'], registers: [registry] });
  const conflicts = new Counter({ name: 'sandfleet_transition_conflicts_total', help: 'Transitions refused because the row had moved', labelNames: ['entity', 'to'], registers: [registry] });
  const calls = new Counter({ name: 'sandfleet_cloud_calls_total', help: 'Cloud API calls by provider, operation and outcome', labelNames: ['provider', 'operation', 'outcome'], registers: [registry] });
  const callSeconds = new Histogram({ name: 'sandfleet_cloud_call_seconds', help: 'Cloud API call duration', labelNames: ['provider', 'operation'], registers: [registry] });

  const refusals = new Counter({ name: 'sandfleet_agent_credentials_refused_total', help: 'Agent calls refused for their machine credential', labelNames: ['reason'], registers: [registry] });

  const stopObserving = observeTransitions((o) => (o.ok ? transitions : conflicts).inc({ entity: o.entity, to: o.to }));
  return {
    registry,
    observeTask(o) {
      if (o.kind === 'started' && o.task.startedAt) wait.observe({ pool: o.task.pool }, (o.task.startedAt.getTime() - o.task.createdAt.getTime()) / 1000);
      if (o.kind === 'finished' && o.task.startedAt) run.observe({ pool: o.task.pool, outcome: o.outcome }, (Date.now() - o.task.startedAt.getTime()) / 1000);
    },
    observeCall(call) {
      calls.inc({ provider: call.provider, operation: call.operation, outcome: call.outcome });
      callSeconds.observe({ provider: call.provider, operation: call.operation }, call.seconds);
    },
    agentRefused(reason) {
      refusals.inc({ reason });
    },
    bind(db, queues) {
      source = { db, queues };
    },
    close: () => stopObserving(),
  };
}
