// Command-line options of `npm run bench`. `--quick` shrinks every measurement so the whole run
// takes a minute or two; the defaults aim at about ten minutes on a small machine.
import { parseArgs } from 'node:util';

export const SECTIONS = ['a', 'b', 'c', 'd'] as const;
export type Section = (typeof SECTIONS)[number];
export type BackendName = 'postgres' | 'redis';

export interface BenchOptions {
  quick: boolean;
  /** Print `{"figures": {...}}` as the last line of standard output. */
  json: boolean;
  sections: ReadonlySet<Section>;
  /** Queue backends for (a)'s BullMQ figures and (b), (c). */
  backends: readonly BackendName[];
  pgbenchSeconds: number;
  noopJobs: number;
  /** Sequential no-op jobs for the BullMQ round-trip latency. */
  roundTrips: number;
  e2eTasks: number;
  /** Machines in the end-to-end pool: enough to keep every run slot of the scheduler busy. */
  e2eMachines: number;
  latencyTasks: number;
  memoryMachines: number;
  memoryTasks: number;
  /** How long the daemon supervises the seeded database before its RSS is read. */
  memorySeconds: number;
  outDir: string;
}

const USAGE = `usage: npm run bench -- [--quick] [--json] [--only a,b,c,d] [--backends postgres,redis] [--pgbench-seconds N] [--jobs N] [--tasks N] [--out DIR]
  a  limits: pgbench single-row UPDATE, BullMQ no-op jobs per backend
  b  end-to-end tasks/s (machines reused, machines retired after every task)
  c  submit -> lease latency with ready machines
  d  daemon RSS holding 10k machines and 100k tasks`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
      backends: { type: 'string' },
      'pgbench-seconds': { type: 'string' },
      jobs: { type: 'string' },
      tasks: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const sections = list(values.only, SECTIONS, 'section');
  const backends = list(values.backends, ['postgres', 'redis'] as const, 'backend');
  return {
    quick,
    json: values.json ?? false,
    sections: new Set(sections),
    backends,
    pgbenchSeconds: count(values['pgbench-seconds'], quick ? 3 : 10),
    noopJobs: count(values.jobs, quick ? 1000 : 10_000),
    roundTrips: quick ? 40 : 200,
    e2eTasks: count(values.tasks, quick ? 150 : 1000),
    e2eMachines: 32,
    latencyTasks: quick ? 40 : 200,
    memoryMachines: 10_000,
    memoryTasks: 100_000,
    memorySeconds: quick ? 5 : 15,
    outDir: values.out ?? 'bench/results',
  };
}

function list<T extends string>(raw: string | undefined, allowed: readonly T[], what: string): T[] {
  if (raw === undefined) return [...allowed];
  const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!(allowed as readonly string[]).includes(p)) usage(`unknown ${what} "${p}" (one of ${allowed.join(', ')})`);
  return allowed.filter((a) => picked.includes(a));
}

function count(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) usage(`expected a positive integer, got "${raw}"`);
  return n;
}

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
