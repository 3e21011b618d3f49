// Autoscaling economics (issue 6): a seeded, bursty 24-hour trace replayed in accelerated time on
// the sim provider, with EC2-like (40 s) and Azure-like (90 s) boots, under sandfleet's own policy
// and under a fixed-interval leaky bucket (re-evaluated every 300 s, 20 % overprovision). For each
// pool kind it prints, side by side, machine-minutes against the oracle's minimum for the same
// waits, and the p50/p95/max wait; the table also goes to bench/results/economics-<timestamp>.md.
//
//   npm run economics -- [--hours 24] [--factor 60] [--seed 1] [--quick] [--kinds ec2,azure]
//                        [--backend auto|redis|postgres] [--max-size 50] [--min-ready 1] [--idle-timeout 300]
//                        [--recycle reimage|delete] [--max-uses N] [--interval 300] [--overprovision 0.2]
//                        [--tick 10] [--poll 10] [--connections 16] [--out bench/results] [--twin]
//
//   npm run economics -- --simulate [--trace FILE]... [--json]   (see economics/simulate-command.ts)
//
// --quick: a 4-hour trace at ×120 (about two minutes). Every duration (trace, boots, runs,
// idle_timeout_s, the bucket's interval, the supervision tick and the boot polling) is divided by
// the factor. The whole scheduler runs in this process, so its own cost per task is multiplied by
// the factor too: the second table of each pool kind (realized boot and reimage, run overhead,
// submit lag) shows how far the run was from the nominal timings; lower the factor if they drift.
// --twin also runs the same trace, pools and policies in the simulator and prints both side by
// side: how far the simulator is from the real system.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Redis } from 'ioredis';
import type { QueueBackend } from '../../src/scheduler/queue.js';
import { measure, type PolicyFigures } from './economics/measure.js';
import { createBenchDatabase, POOL_KINDS, replay, type PoolShape, type ReplayOptions } from './economics/replay.js';
import { simulateCommand } from './economics/simulate-command.js';
import { describeTrace, generateTrace } from './economics/trace.js';
import { renderTwin, replayWindows, simulateTwin } from './economics/twin.js';

// The simulator instead of a real-time replay: every policy over the traces in seconds.
if (process.argv.includes('--simulate')) process.exit(await simulateCommand(process.argv.slice(2)));

const { values: args } = parseOrExit({
  options: {
    hours: { type: 'string' },
    factor: { type: 'string' },
    seed: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    kinds: { type: 'string', default: 'ec2,azure' },
    backend: { type: 'string', default: 'auto' },
    'max-size': { type: 'string', default: '50' },
    'min-ready': { type: 'string', default: '1' },
    'idle-timeout': { type: 'string', default: '300' },
    recycle: { type: 'string', default: 'reimage' },
    'max-uses': { type: 'string' },
    twin: { type: 'boolean', default: false },
    interval: { type: 'string', default: '300' },
    overprovision: { type: 'string', default: '0.2' },
    tick: { type: 'string', default: '10' },
    poll: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    out: { type: 'string', default: 'bench/results' },
    help: { type: 'boolean', default: false },
  },
});

/** Arguments parsed, or the problem and the usage printed and exit 2. */
function parseOrExit<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    console.error(`economics: ${error instanceof Error ? error.message : String(error)}\n${usage()}`);
    process.exit(2);
  }
}

if (args.help) {
  console.log(usage());
  process.exit(0);
}

function usage(): string {
  return 'usage: npm run economics -- [--hours 24] [--factor 60] [--seed 1] [--quick] [--kinds ec2,azure] [--backend auto|redis|postgres] [--max-size 50] [--min-ready 1] [--idle-timeout 300] [--recycle reimage|delete] [--max-uses N] [--interval 300] [--overprovision 0.2] [--tick 10] [--poll 10] [--connections 16] [--out bench/results] [--twin]';
}

function number(name: string, value: string | undefined, fallback: number, min = 0): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number ≥ ${min}, got ${value}`);
    process.exit(2);
  }
  return n;
}

const hours = number('hours', args.hours, args.quick ? 4 : 24, 0.1);
const factor = number('factor', args.factor, args.quick ? 120 : 60, 1);
const seed = Math.trunc(number('seed', args.seed, 1));
const kinds = args.kinds.split(',').map((k) => {
  const kind = POOL_KINDS.find((p) => p.kind === k.trim());
  if (!kind) {
    console.error(`--kinds: unknown pool kind "${k}" (${POOL_KINDS.map((p) => p.kind).join(', ')})`);
    process.exit(2);
  }
  return kind;
});
if (args.recycle !== 'reimage' && args.recycle !== 'delete') {
  console.error('--recycle must be reimage or delete');
  process.exit(2);
}
if (!['auto', 'redis', 'postgres'].includes(args.backend)) {
  console.error('--backend must be auto, redis or postgres');
  process.exit(2);
}
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// The queue is not what is measured here: Redis (when it answers) keeps BullMQ's traffic off the
// PostgreSQL server the machines' and tasks' transitions need.
const useRedis = args.backend === 'redis' || (args.backend === 'auto' && (await redisAnswers(redisUrl)));
const backend: QueueBackend = useRedis ? { kind: 'redis', url: redisUrl, prefix: `sfecon-${Date.now().toString(36)}` } : { kind: 'postgres' };
const shape: PoolShape = {
  maxSize: Math.trunc(number('max-size', args['max-size'], 50, 1)),
  minReady: Math.trunc(number('min-ready', args['min-ready'], 1)),
  idleTimeoutS: Math.trunc(number('idle-timeout', args['idle-timeout'], 300)),
  maxUses: args['max-uses'] === undefined ? null : Math.trunc(number('max-uses', args['max-uses'], 1, 1)),
  recycle: args.recycle,
  stopS: 10,
  terminateS: 20,
};
const leaky = { intervalS: number('interval', args.interval, 300, 1), overprovision: number('overprovision', args.overprovision, 0.2) };
const tickS = number('tick', args.tick, 5, 0.01);
const pollS = number('poll', args.poll, 5, 0.01);
const connections = Math.trunc(number('connections', args.connections, 16, 4));

/** Connections of the submitter (the API server's, in production), beside the scheduler's. */
const SUBMIT_CONNECTIONS = 6;

const log = (line: string) => process.stderr.write(`${line}\n`);
const trace = generateTrace({ hours, seed });
const started = new Date();
log(`economics: ${describeTrace(trace)}`);
log(`replaying at ×${factor} (${((hours * 3600) / factor / 60).toFixed(1)} min of wall time) on ${kinds.map((k) => `${k.label} (boot ${k.bootS}s)`).join(' and ')}, ${backend.kind} queue`);

const database = await createBenchDatabase(connections, backend.kind === 'postgres');
let dropped = false;
const drop = async () => {
  if (dropped) return;
  dropped = true;
  await database.drop().catch((e: unknown) => log(`could not drop ${database.name}: ${String(e)}`));
};
// Ctrl-C stops the replay, which closes the scheduler; the database and Redis keys then go as
// after a normal run. A second Ctrl-C exits at once.
const interrupt = new AbortController();
process.once('SIGINT', () => {
  log('interrupted: stopping the scheduler, then dropping the run database (Ctrl-C again to exit at once)');
  interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
});

// The host's load during the run: the acceleration multiplies any slowness of it.
const loads: number[] = [];
const sampling = setInterval(() => loads.push(os.loadavg()[0]!), 5000);
let figures: PolicyFigures[] | undefined;
let errors: string[] = [];
let twinReport = '';
try {
  const options: ReplayOptions = { trace, factor, kinds, pool: shape, backend, leaky, tickS, pollS, connections, submitConnections: SUBMIT_CONNECTIONS, log, signal: interrupt.signal };
  const submitter = database.open(SUBMIT_CONNECTIONS, 'sandfleet-bench-economics-submit');
  let run;
  try {
    run = await replay(database, submitter, options);
  } finally {
    await submitter.close();
  }
  errors = run.errors;
  figures = await measure(database.db, run, factor, shape, hours);
  if (args.twin) twinReport = renderTwin(figures, simulateTwin({ trace, kinds, pool: shape, leaky, tickS, pollS, seed, windowS: replayWindows(figures) }));
  const targets = run.evaluations.map((e) => e.target);
  if (targets.length) log(`leaky bucket: ${run.evaluations.length} evaluations, targets ${Math.min(...targets)}–${Math.max(...targets)}`);
} catch (error) {
  if (!interrupt.signal.aborted) throw error;
} finally {
  clearInterval(sampling);
  await drop();
  if (backend.kind === 'redis') await removeRedisKeys(backend.url, backend.prefix ?? 'sandfleet');
}

if (!figures) process.exit(130);
const report = `${render(figures)}${twinReport ? `\n\n${twinReport}` : ''}`;
console.log(report);
const file = path.join(args.out, `economics-${started.toISOString().replace(/[:.]/g, '-')}.md`);
await mkdir(args.out, { recursive: true });
await writeFile(file, `# Autoscaling economics, ${started.toISOString()}\n\n${report}\n`);
log(`written to ${file}`);
process.exit(errors.length > 0 ? 1 : 0);

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** The run's BullMQ keys (its own prefix) come out of the shared Redis. */
async function removeRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch (error) {
    log(`could not remove the run's Redis keys (${prefix}:*): ${String(error)}`);
  } finally {
    redis.disconnect();
  }
}

function render(figures: PolicyFigures[]): string {
  const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
  const secs = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} s` : '–');
  const lines: string[] = [];
  lines.push(`Trace: ${describeTrace(trace)}.`);
  lines.push(
    `Replayed at ×${factor} on the sim provider (${backend.kind} queue); pools: max_size ${shape.maxSize}, min_ready ${shape.minReady}, idle_timeout_s ${shape.idleTimeoutS}, recycle ${shape.recycle}` +
      `${shape.maxUses === null ? '' : `, max_uses ${shape.maxUses}`}, stop ${shape.stopS} s, terminate ${shape.terminateS} s; supervision tick ${tickS} s, boot polling ${pollS} s (trace time).`,
  );
  if (loads.length) lines.push(`Host: ${os.cpus().length} CPUs, 1-minute load average ${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(1)} on average, ${Math.max(...loads).toFixed(1)} at most during the run.`);
  lines.push(`Leaky bucket: every ${leaky.intervalS} s, target = ceil(${1 + leaky.overprovision} × mean(queued + leased + recycling) over the last interval), clamped to [min_ready, max_size].`);
  lines.push('');
  for (const kind of kinds) {
    const rows = figures.filter((f) => f.pool.kind.kind === kind.kind);
    lines.push(`### ${kind.label} pool (boot ${kind.bootS} s), window ${f1((rows[0]?.windowS ?? 0) / 3600)} h`);
    lines.push('');
    lines.push('| policy | machine-minutes | oracle | × oracle | p50 wait | p95 wait | max wait | tasks |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      lines.push(
        `| ${r.pool.policy} | ${Math.round(r.machineMinutes)} | ${Math.round(r.oracle.machineMinutes)} | ${(r.machineMinutes / r.oracle.machineMinutes).toFixed(2)} | ${secs(r.waitsS.p50)} | ${secs(r.waitsS.p95)} | ${secs(r.waitsS.max)} | ${r.completed}/${r.total} |`,
      );
    }
    lines.push('');
    lines.push('| policy | oracle at realized timings | × it | mean wait | machines created | peak machines | realized boot | realized reimage | run overhead | submit lag p95 / max |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      lines.push(
        `| ${r.pool.policy} | ${Math.round(r.oracleRealized.machineMinutes)} | ${(r.machineMinutes / r.oracleRealized.machineMinutes).toFixed(2)} | ${secs(r.waitsS.mean)} | ${r.machinesCreated} | ${r.peakMachines} | ${secs(r.bootS)} | ${secs(r.reimageS)} | ${secs(r.runOverheadS)} | ${secs(r.submitLagS.p95)} / ${secs(r.submitLagS.max)} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    'machine-minutes: Σ over machines of provisioning request → deleted (or window end), trace minutes (wall × factor). ' +
      'oracle: a clairvoyant schedule that starts every task when this run started it, booting each machine just in time and retiring it when idling would cost more than a fresh boot ' +
      `(boot before a machine's first task, a reimage of the boot time between tasks, ${shape.terminateS} s teardown). ` +
      'oracle at realized timings: the same schedule with each task\'s realized start → finish and the pool\'s mean realized boot, reimage and teardown, ' +
      'i.e. what a clairvoyant policy would have needed on this run\'s (slower than nominal) system. Waits: created_at → started_at, trace seconds. ' +
      'run overhead: started → finished beyond the nominal run. submit lag: created_at behind the trace\'s arrival time.',
  );
  if (errors.length) lines.push('', `Errors during the run (${errors.length}): ${errors.slice(0, 5).join('; ')}`);
  return lines.join('\n');
}
