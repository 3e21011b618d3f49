// `npm run economics -- --simulate [--trace FILE]... [--synthetic-hours 24] [--kinds ec2,azure]
//   [--max-size 50] [--min-ready 0] [--recycle reimage|delete] [--max-uses N] [--tick 1] [--poll 1]
//   [--price ec2=0.096/0.035,azure=0.096/0.019] [--seed 1] [--json] [--out bench/results]`
//
// Every policy over every trace (the built-in synthetic and batches ones, and each --trace file) and pool kind,
// in the simulator: the baselines (on-demand, fixed keep-alive, leaky bucket), the daemon's
// default policy (`sandfleet`), and the forecasting policy's frontier over its `cover` knob.
// Prints a table per trace and pool kind, writes it to bench/results/economics-sim-<time>.md with
// the cost/wait chart beside it (.svg), and with --json ends with the figures line.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { demandPolicy, keepAlivePolicy, onDemandPolicy } from '../../../src/scheduler/policies/demand.js';
import { forecastPolicy } from '../../../src/scheduler/policies/forecast.js';
import { leakyBucketPolicy } from '../../../src/scheduler/policies/leaky-bucket.js';
import { batchWorkload } from './batch-trace.js';
import { frontierChart } from './frontier-chart.js';
import { compare, dominatedBy, SIMULATED_KINDS, type CompareOptions, type CompareRow, type PolicyEntry, type SimulatedKind } from './compare.js';
import { generateTrace } from './trace.js';
import { readTraceFile, TraceFileError, type Workload } from './trace-file.js';

const KINDS = SIMULATED_KINDS;
const BASELINES = ['on-demand', 'keep-alive', 'leaky-bucket'] as const;
/** The forecasting policy's knob settings: its cost/wait frontier. */
const COVERS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98];

class UsageError extends Error {}

export async function simulateCommand(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parse>;
  let workloads: Workload[];
  try {
    options = parse(argv);
    workloads = [synthetic(options.hours, options.seed), batchWorkload(options.hours, options.seed), ...(await Promise.all(options.traces.map(readTraceFile)))];
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof TraceFileError)) throw error;
    console.error(`economics --simulate: ${error.message}`);
    return 2;
  }
  const started = new Date();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const w of workloads) log(`trace ${w.name}: ${w.tasks.length} tasks over ${w.hours.toFixed(1)} h`);
  const rows = compare({ ...options.compare, workloads }, (r) => log(`${r.trace} ${r.kind} ${label(r)}: ${Math.round(r.machineMinutes)} machine-minutes (× oracle ${r.xOracle.toFixed(2)}), p95 wait ${Math.round(r.waits.p95)} s`));
  const report = render(rows, options.compare, options.kinds);
  console.log(report);
  await mkdir(options.out, { recursive: true });
  const base = path.join(options.out, `economics-sim-${started.toISOString().replace(/[:.]/g, '-')}`);
  await writeFile(`${base}.svg`, await frontierChart(rows));
  await writeFile(`${base}.md`, `# Autoscaling economics (simulated), ${started.toISOString()}\n\n![cost against p95 wait](${path.basename(base)}.svg)\n\n${report}\n`);
  log(`written to ${base}.md and the chart to ${base}.svg in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);
  if (options.json) console.log(JSON.stringify({ figures: figures(rows, options.kinds) }));
  return 0;
}

function parse(argv: string[]) {
  const { values } = parseOrFail({
    args: argv,
    options: {
      simulate: { type: 'boolean' },
      trace: { type: 'string', multiple: true, default: [] },
      'synthetic-hours': { type: 'string', default: '24' },
      kinds: { type: 'string', default: 'ec2,azure' },
      price: { type: 'string', default: '' },
      'max-size': { type: 'string', default: '50' },
      'min-ready': { type: 'string', default: '0' },
      recycle: { type: 'string', default: 'reimage' },
      'max-uses': { type: 'string' },
      tick: { type: 'string', default: '1' },
      poll: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results' },
    },
  });
  const prices = pricesOf(values.price);
  const kinds = values.kinds.split(',').map((k) => {
    const kind = KINDS.find((known) => known.kind === k.trim()) ?? fail(`--kinds: unknown pool kind "${k}" (${KINDS.map((known) => known.kind).join(', ')})`);
    return { ...kind, pricePerHour: prices.get(kind.kind) ?? kind.pricePerHour };
  });
  if (values.recycle !== 'reimage' && values.recycle !== 'delete') fail(`--recycle must be reimage or delete, got "${values.recycle}"`);
  const seed = Math.trunc(number('seed', values.seed, 0));
  const compareOptions: Omit<CompareOptions, 'workloads'> = {
    kinds,
    policies: policies(),
    pool: {
      maxSize: Math.trunc(number('max-size', values['max-size'], 1)),
      minReady: Math.trunc(number('min-ready', values['min-ready'], 0)),
      idleTimeoutS: 300,
      maxUses: values['max-uses'] === undefined ? null : Math.trunc(number('max-uses', values['max-uses'], 1)),
      recycle: values.recycle,
      stopS: 10,
      terminateS: 20,
      jitter: 0.1,
    },
    tickS: number('tick', values.tick, 0.01),
    pollS: number('poll', values.poll, 0),
    seed,
  };
  return { compare: compareOptions, kinds, traces: values.trace, hours: number('synthetic-hours', values['synthetic-hours'], 0.1), seed, json: values.json, out: values.out };
}

function parseOrFail<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

/** `ec2=0.096/0.035,azure=0.1`: each kind's on-demand price per machine-hour and, after a slash, its spot price (default: the on-demand one). */
function pricesOf(value: string): Map<string, SimulatedKind['pricePerHour']> {
  const prices = new Map<string, SimulatedKind['pricePerHour']>();
  for (const item of value.split(',').filter((s) => s.trim() !== '')) {
    const match = /^\s*(\w+)=([^/]+)(?:\/(.+))?$/.exec(item);
    if (!match || !KINDS.some((k) => k.kind === match[1])) fail(`--price: expected kind=on-demand[/spot] with kind one of ${KINDS.map((k) => k.kind).join(', ')}, got "${item}"`);
    const onDemand = number('price', match[2]!, 0);
    prices.set(match[1]!, { onDemand, spot: match[3] === undefined ? onDemand : number('price', match[3], 0) });
  }
  return prices;
}

function number(name: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) fail(`--${name} must be a number ≥ ${min}, got "${value}"`);
  return n;
}

function policies(): PolicyEntry[] {
  return [
    { name: 'on-demand', make: () => onDemandPolicy() },
    { name: 'keep-alive', make: () => keepAlivePolicy() },
    { name: 'leaky-bucket', make: () => leakyBucketPolicy() },
    // The daemon's default: forecast with its default cover, learning the boot time as it goes.
    { name: 'sandfleet', make: () => forecastPolicy() },
    { name: 'demand', make: () => demandPolicy() },
    ...COVERS.map((cover) => ({ name: 'forecast', setting: cover, make: () => forecastPolicy({ cover }) })),
  ];
}

function synthetic(hours: number, seed: number): Workload {
  return { name: 'synthetic', tasks: generateTrace({ hours, seed }).tasks.map((t) => ({ at: t.at, runS: t.runS })), hours };
}

const label = (r: CompareRow) => (r.setting === undefined ? r.policy : `${r.policy} ${r.setting}`);

type Figures = Record<string, number | string[] | null>;

/** The issue's figures per trace and pool kind. `sandfleet` is the daemon's default policy; the frontier is the forecasting policy's. */
export function figures(rows: readonly CompareRow[], kinds: readonly SimulatedKind[]): Figures {
  const out: Figures = {};
  for (const trace of [...new Set(rows.map((r) => r.trace))]) {
    for (const kind of kinds) {
      const of = rows.filter((r) => r.trace === trace && r.kind === kind.kind);
      const key = `${trace}.${kind.kind}`;
      const baselines = of.filter((r) => (BASELINES as readonly string[]).includes(r.policy));
      const sandfleet = of.find((r) => r.policy === 'sandfleet');
      for (const r of [...baselines, ...(sandfleet ? [sandfleet] : [])]) {
        out[`${key}.${r.policy}.x_oracle`] = round(r.xOracle);
        out[`${key}.${r.policy}.p50_wait_s`] = round(r.waits.p50);
        out[`${key}.${r.policy}.p95_wait_s`] = round(r.waits.p95);
        out[`${key}.${r.policy}.cost`] = round(r.cost.onDemand);
        out[`${key}.${r.policy}.cost_spot`] = round(r.cost.spot);
      }
      out[`${key}.dominated_by`] = sandfleet ? dominatedBy(sandfleet, baselines) : null;
      const frontier = of.filter((r) => r.setting !== undefined);
      const fast = frontier.filter((r) => r.waits.p95 <= kind.bootS);
      out[`${key}.x_oracle_at_boot_wait`] = fast.length ? round(Math.min(...fast.map((r) => r.xOracle))) : null;
      const keepAlive = of.find((r) => r.policy === 'keep-alive');
      const asFast = keepAlive ? frontier.filter((r) => r.waits.p95 <= keepAlive.waits.p95) : [];
      out[`${key}.saving_vs_keepalive`] = keepAlive && asFast.length ? round(1 - Math.min(...asFast.map((r) => r.machineMinutes)) / keepAlive.machineMinutes) : null;
    }
  }
  return out;
}

const round = (n: number) => Math.round(n * 1000) / 1000;

function render(rows: readonly CompareRow[], options: Omit<CompareOptions, 'workloads'>, kinds: readonly SimulatedKind[]): string {
  const p = options.pool;
  const lines = [
    `Simulated on a virtual clock: supervision tick ${options.tickS} s, readiness poll ${options.pollS} s; pools of max_size ${p.maxSize}, min_ready ${p.minReady}, recycle ${p.recycle}` +
      `${p.maxUses === null ? '' : `, max_uses ${p.maxUses}`}, stop ${p.stopS} s, teardown ${p.terminateS} s, boot and reimage ± ${p.jitter * 100} %; seed ${options.seed}.`,
    '`sandfleet` is the daemon\'s default policy (forecast at its default cover, learning the boot time); `demand` the previous default; `forecast` is the forecasting policy at each setting of its `cover` knob (its cost/wait frontier).',
    '',
  ];
  for (const trace of [...new Set(rows.map((r) => r.trace))]) {
    for (const kind of kinds) {
      const { onDemand, spot } = kind.pricePerHour;
      lines.push(
        `### ${trace}, ${kind.kind}-like pool (boot ${kind.bootS} s; ${onDemand} per machine-hour on demand, ${spot} as spot)`,
        '',
        '| policy | machine-minutes | oracle | × oracle | cost | cost (spot) | p50 wait | p95 wait | max wait | created | peak |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const r of rows.filter((row) => row.trace === trace && row.kind === kind.kind)) {
        lines.push(
          `| ${label(r)} | ${Math.round(r.machineMinutes)} | ${Math.round(r.oracleMinutes)} | ${r.xOracle.toFixed(2)} | ${r.cost.onDemand.toFixed(2)} | ${r.cost.spot.toFixed(2)} | ${Math.round(r.waits.p50)} s | ${Math.round(r.waits.p95)} s | ${Math.round(r.waits.max)} s | ${r.machinesCreated} | ${r.peakMachines} |`,
        );
      }
      lines.push('');
    }
  }
  lines.push('machine-minutes: each machine from its create request until its teardown ended. oracle: the clairvoyant minimum for the same start times (a boot before a machine\'s first task, a reimage between two, the teardown after its last).');
  return lines.join('\n');
}
