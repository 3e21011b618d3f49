// Command-line options of `npm run bench:fleet`. The defaults are the fleet the benchmark is
// about (10,000 machines, tasks of one to three minutes, one and three daemons, both queue
// backends); `--quick` shrinks the fleet and the tasks, never the daemon's intervals.
import { parseArgs } from 'node:util';
import { CLOUDS, type CloudName } from './cloud.js';

export type BackendName = 'postgres' | 'redis';
export const BACKENDS: readonly BackendName[] = ['postgres', 'redis'];

export interface FleetOptions {
  quick: boolean;
  /** The last stdout line is `{"figures": {...}}`. */
  json: boolean;
  backends: readonly BackendName[];
  /** Daemon counts to run, each on every backend: the figures of the first carry no suffix. */
  daemonCounts: readonly number[];
  machines: number;
  /** Runs of different backends at the same time (each on its own PostgreSQL and Redis). */
  parallel: boolean;
  seed: number;
  /** Seconds from the start by which every run must be done; the steady phase shrinks to fit. */
  budgetS: number | null;
  outDir: string;
  /** Who runs the tasks: simulated agents on agent pools (default), or the sim runner in the daemons. */
  driver: 'agents' | 'sim-runner';
  /** Most submissions per second the windows and the steady phase send (the burst is all at once), or null for no cap. */
  rate: number | null;
  /** The phases run (all by default): `cloud` once, the others in every fleet run after warming; the figures of the others are reported as not measured. */
  phases: readonly Phase[];
  /** Tasks the cloud phase submits at once into each empty pool. */
  cloudBurst: number;
  clouds: readonly CloudName[];
}

export type Phase = 'cloud' | 'windows' | 'burst' | 'steady';
export const PHASES: readonly Phase[] = ['cloud', 'windows', 'burst', 'steady'];
/** The fleet runs' phases: a run with none of them is not started. */
export const FLEET_PHASES: readonly Phase[] = ['windows', 'burst', 'steady'];

/**
 * The full run's submission rate cap. Uncapped, the steady phase asks 72/s (8,640 running tasks
 * of 60-180 s); on two cores shared by PostgreSQL, the daemon and 10,000 simulated agents one
 * daemon fell behind (2,468 of a window's tasks unstarted 106 s after it), so latency there
 * measures the backlog, not the system.
 */
const FULL_RATE = 20;

const USAGE = `usage: npm run bench:fleet -- [--quick] [--json] [--backends postgres,redis] [--daemons 1,3] [--machines N] [--parallel|--sequential] [--budget S] [--seed N] [--out DIR] [--driver agents|sim-runner] [--phases cloud,windows,burst,steady] [--rate N|none] [--cloud-burst N] [--clouds sim,aws,azure]
  default: 10,000 sim machines in 4 pools, tasks of 60-180 s, one and three daemons, both backends, one run after another,
    at most ${FULL_RATE} submissions/s (--rate: what this two-core machine sustains with PostgreSQL, the daemons and the agents on it)
  --quick: 300 machines, tasks of 20-30 s, one daemon, both backends at once, done within 280 s (--budget)
  cloud phase (once, in-process, before the fleet runs): --cloud-burst tasks (1,000) into an empty pool of the sim, the EC2 emulator and the ARM emulator, each metering its documented budget`;

/** Quick must end within five minutes on a shared two-core machine: its steady phase shrinks to fit this. */
const QUICK_BUDGET_S = 280;

export function parseFleetOptions(argv: readonly string[]): FleetOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      backends: { type: 'string' },
      daemons: { type: 'string' },
      machines: { type: 'string' },
      parallel: { type: 'boolean' },
      sequential: { type: 'boolean' },
      seed: { type: 'string', default: '1' },
      budget: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      driver: { type: 'string', default: 'agents' },
      phases: { type: 'string' },
      rate: { type: 'string' },
      'cloud-burst': { type: 'string', default: '1000' },
      clouds: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.parallel && values.sequential) usage('--parallel and --sequential exclude each other');
  const quick = values.quick ?? false;
  const backends = values.backends === undefined ? [...BACKENDS] : listOf(values.backends, BACKENDS, 'backend');
  const daemonCounts = values.daemons === undefined ? (quick ? [1] : [1, 3]) : values.daemons.split(',').map((d) => count(d.trim(), 1));
  // Quick runs both backends at once on two cores: 300 machines keep the two runs from starving each other.
  const machines = values.machines === undefined ? (quick ? 300 : 10_000) : count(values.machines, 1);
  if (machines % 4 !== 0) usage(`--machines must be a multiple of 4 (four pools), got ${machines}`);
  return {
    quick,
    json: values.json ?? false,
    backends,
    daemonCounts: [...new Set(daemonCounts)],
    machines,
    // Quick fits its five minutes only with both backends at once; the full run keeps them apart.
    parallel: values.parallel ?? (values.sequential ? false : quick),
    seed: count(values.seed ?? '1', 0),
    budgetS: values.budget === undefined ? (quick ? QUICK_BUDGET_S : null) : count(values.budget, 60),
    outDir: values.out ?? 'bench/results',
    driver: listOf(values.driver ?? 'agents', ['agents', 'sim-runner'] as const, 'driver')[0] ?? 'agents',
    rate: values.rate === 'none' ? null : values.rate === undefined ? (quick ? null : FULL_RATE) : count(values.rate, 1),
    phases: values.phases === undefined ? [...PHASES] : listOf(values.phases, PHASES, 'phase'),
    cloudBurst: count(values['cloud-burst'] ?? '1000', 1),
    clouds: values.clouds === undefined ? [...CLOUDS] : listOf(values.clouds, CLOUDS, 'cloud'),
  };
}

function listOf<T extends string>(raw: string, allowed: readonly T[], what: string): T[] {
  const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!(allowed as readonly string[]).includes(p)) usage(`unknown ${what} "${p}" (one of ${allowed.join(', ')})`);
  if (picked.length === 0) usage(`no ${what} given`);
  return allowed.filter((a) => picked.includes(a));
}

function count(raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) usage(`expected an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
