// The workload driver: how the fleet's tasks are made to last minutes and where they run. The
// default is agent pools (`runner: {kind: agent}`) with simulated agents in one process of their
// own (`sandfleet sim-agents`), so no daemon holds a running task: the whole fleet can be busy.
// `--driver sim-runner` runs tasks inside the daemons on the sim runner instead, where
// `scheduler.run_concurrency` (at most 1,000 per daemon) caps how many run at once. Either way a
// task's duration comes from its payload's `sim.durationMs`.
import { startSimAgents, type Sidecar } from './sim-agents.js';

export interface Durations {
  minMs: number;
  maxMs: number;
}

export interface WorkloadDriver {
  readonly name: string;
  /** The `runner` block of every pool in the daemon's config. */
  poolRunner(durations: Durations): Record<string, unknown>;
  /** `scheduler.run_concurrency` for each of `daemons` daemons serving `machines` machines. */
  runConcurrency(machines: number, daemons: number): number;
  /** Tasks that can run at once across the daemons. */
  capacity(machines: number, daemons: number): number;
  /** The task payload that makes it last `durationMs`; `phase` tags it for the harness's queries. */
  payload(durationMs: number, phase: string): Record<string, unknown>;
  /** What this driver cannot do at this scale, for the report. */
  limitations(machines: number, daemons: number): string[];
  /** A process that runs beside the daemons (the simulated agents), started once they are ready. */
  sidecar?(config: string, env: Record<string, string>, machines: number, log: (line: string) => void): Sidecar;
}

/** The config schema's maximum for `scheduler.run_concurrency`. */
export const RUN_CONCURRENCY_CAP = 1000;

export const simRunnerDriver: WorkloadDriver = {
  name: 'sim runner in the daemons',
  poolRunner: (d) => ({ kind: 'sim', min_duration_ms: d.minMs, max_duration_ms: d.maxMs }),
  runConcurrency: (machines, daemons) => Math.min(RUN_CONCURRENCY_CAP, Math.ceil(machines / daemons)),
  capacity(machines, daemons) {
    return Math.min(machines, this.runConcurrency(machines, daemons) * daemons);
  },
  payload: (durationMs, phase) => ({ phase, sim: { durationMs } }),
  limitations(machines, daemons) {
    const capacity = this.capacity(machines, daemons);
    if (capacity >= machines) return [];
    return [
      `${daemons} daemon(s) run at most ${capacity.toLocaleString('en-US')} tasks at once (scheduler.run_concurrency is capped at ${RUN_CONCURRENCY_CAP} per daemon and the sim runner runs tasks in the daemon), so at most ${Math.round((100 * capacity) / machines)}% of the ${machines.toLocaleString('en-US')} machines are busy; the rest stay warm and ready.`,
    ];
  },
};

/** Machines one sim-agents process drives. */
const AGENTS_PER_PROCESS = 10_000;
/** Agents beat three times per heartbeat timeout; the pools' timeout is the default 60 s. */
const AGENT_HEARTBEAT_MS = 20_000;

export const simAgentDriver: WorkloadDriver = {
  name: 'agent pools, simulated agents beside the daemons',
  poolRunner: () => ({ kind: 'agent', heartbeat_timeout_s: 60 }),
  // No run jobs: the daemons' run workers idle. Keep the default.
  runConcurrency: () => 32,
  capacity: (machines) => machines,
  payload: (durationMs, phase) => ({ phase, sim: { durationMs } }),
  limitations: () => [],
  sidecar: (config, env, machines, log) => startSimAgents(config, env, AGENT_HEARTBEAT_MS, Math.ceil(machines / AGENTS_PER_PROCESS), log),
};

export const DRIVERS = { agents: simAgentDriver, 'sim-runner': simRunnerDriver } as const;
