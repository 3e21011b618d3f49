// The workload driver: how the fleet's tasks are made to last minutes and where they run. This
// is the one module to swap when a simulated agent runner arrives: today tasks run inside the
// daemons on the sim runner (`runner: {kind: sim}`, duration from the payload's
// `sim.durationMs`), so a daemon holds each running task and `scheduler.run_concurrency`
// (at most 1,000 per daemon) caps how many run at once.

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
