// What one run does, derived from the options: the fleet (four pools, two reimaged and two
// deleted after every task), the daemons' sizing, and how long each phase lasts. Only the
// workload is compressed; every interval of the daemon stays at its default.
import type { BackendName, FleetOptions, Phase } from './options.js';
import type { Durations, WorkloadDriver } from './workload.js';

export type Recycle = 'reimage' | 'delete';
export const MODES: readonly Recycle[] = ['reimage', 'delete'];

export interface PoolPlan {
  name: string;
  recycle: Recycle;
  machines: number;
  /** delete pools: one task per machine; reimage pools: reused forever. */
  maxUses: number | null;
}

export interface RunPlan {
  /** `postgres, 1 daemon`: how progress lines and the report name the run. */
  label: string;
  backend: BackendName;
  daemons: number;
  machines: number;
  pools: PoolPlan[];
  runConcurrency: number;
  /** Machine jobs at once per daemon: 200 in all, so warming the fleet takes minutes, while each daemon's pool (one connection per handler) stays a size an operator would run. */
  machineConcurrency: number;
  /** Tasks that can run at once across the daemons. */
  capacity: number;
  durations: Durations;
  /** At rest after warming: the idle baseline, and the pause that lets PostgreSQL flush its counters. */
  idleS: number;
  /** After a closed window's last task: backends report their counters within 10 s when idle (PGSTAT_IDLE_INTERVAL). */
  settleS: number;
  /** Closed windows, one per recycle mode: tasks submitted at a steady rate for submitS seconds. */
  window: { concurrency: number; submitS: number };
  /** `tasks` submissions at once, each lasting `durationMs`; then the background window while they run. */
  burst: { tasks: number; durationMs: number; minBackgroundS: number };
  /** Submissions at the rate that keeps `concurrency` tasks running: rampS to get there, then windowS measured. */
  steady: { concurrency: number; rampS: number; windowS: number };
  warmTimeoutS: number;
  /** Epoch ms by which the run must be over (the steady phase shrinks to fit), or null. */
  deadline: number | null;
  seed: number;
  /** The phases after warming that run. */
  phases: readonly Phase[];
  limitations: string[];
}

/** Busy share the submission rates aim at: a little headroom so tasks do not queue for a slot or a machine. */
const BUSY = 0.9;
/**
 * Seconds a machine is out of service between two tasks: stop, reimage or terminate, and a new
 * machine's boot (the sim cloud's 0.2 + 1.5 s) with the boot check's 1 s polling, and dispatch.
 * Where the machines, not the run slots, are the limit (quick), the rates leave room for it.
 */
const RECYCLE_ALLOWANCE_S = 5;

export function planRun(options: FleetOptions, backend: BackendName, daemons: number, driver: WorkloadDriver, startedAt: number): RunPlan {
  const machines = options.machines;
  const perPool = machines / 4;
  const pools: PoolPlan[] = [
    { name: 'reimage-a', recycle: 'reimage', machines: perPool, maxUses: null },
    { name: 'reimage-b', recycle: 'reimage', machines: perPool, maxUses: null },
    { name: 'delete-a', recycle: 'delete', machines: perPool, maxUses: 1 },
    { name: 'delete-b', recycle: 'delete', machines: perPool, maxUses: 1 },
  ];
  const capacity = driver.capacity(machines, daemons);
  const quick = options.quick;
  // Quick's tasks are shorter than the brief's 20-40 s so both backends fit in five minutes.
  const durations = quick ? { minMs: 20_000, maxMs: 30_000 } : { minMs: 60_000, maxMs: 180_000 };
  const meanS = meanDurationMs(durations) / 1000;
  // Tasks `machines` machines can keep running, given each one's time out of service between tasks.
  const machinesRun = (n: number) => (n * meanS) / (meanS + RECYCLE_ALLOWANCE_S);
  // Little's law: the rate cap bounds how many tasks can be kept running.
  const rateRuns = options.rate === null ? Number.POSITIVE_INFINITY : options.rate * meanS;
  const running = (n: number) => Math.floor(BUSY * Math.min(capacity, machinesRun(n), rateRuns));
  return {
    label: `${backend}, ${daemons} daemon${daemons === 1 ? '' : 's'}`,
    backend,
    daemons,
    machines,
    pools,
    runConcurrency: driver.runConcurrency(machines, daemons),
    machineConcurrency: Math.ceil(Math.min(machines, 400) / daemons / 2),
    capacity,
    durations,
    // Full: two reconcile passes (every 30 s); quick: just the settling of the counters.
    idleS: quick ? 11 : 60,
    settleS: 11,
    // A mode's two pools hold half the machines.
    window: { concurrency: running(machines / 2), submitS: quick ? 10 : 120 },
    burst: { tasks: Math.min(1000, capacity), durationMs: quick ? 30_000 : 150_000, minBackgroundS: quick ? 8 : 30 },
    steady: { concurrency: running(machines), rampS: durations.maxMs / 1000, windowS: quick ? 15 : 120 },
    warmTimeoutS: quick ? 120 : 1800,
    deadline: options.budgetS === null ? null : startedAt + options.budgetS * 1000,
    seed: options.seed,
    phases: options.phases,
    limitations: [...driver.limitations(machines, daemons), ...rateLimitation(options.rate, machinesRun(machines), rateRuns)],
  };
}

function rateLimitation(rate: number | null, machinesCanRun: number, rateRuns: number): string[] {
  if (rate === null || rateRuns >= machinesCanRun) return [];
  return [
    `Submissions are capped at ${rate}/s (--rate), so about ${Math.round(BUSY * rateRuns).toLocaleString('en-US')} tasks run at once in the steady phase rather than ${Math.round(BUSY * machinesCanRun).toLocaleString('en-US')}: one two-core machine hosts PostgreSQL, the daemons, the simulated agents and the harness, and uncapped (72/s) one daemon fell behind by thousands of tasks. Costs per task and per 1,000 running tasks do not depend on the rate; latency at a rate the machine cannot keep up with would measure the backlog.`,
  ];
}

/** Seeded uniform durations, so runs are repeatable. */
export function durationSource(durations: Durations, seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return Math.round(durations.minMs + unit * (durations.maxMs - durations.minMs));
  };
}

export function meanDurationMs(d: Durations): number {
  return (d.minMs + d.maxMs) / 2;
}
