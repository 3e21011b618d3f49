// The results as people read them (a table on the terminal, a markdown report with the method,
// the runs and the statements that cost most) and as scripts read them (one JSON line).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { MachineInfo } from '../machine.js';
import { formatValue } from '../report.js';
import type { RankedStatement } from './attribution.js';
import { meets, type FleetFigure } from './figures.js';
import { PG_BIN } from './postgres.js';
import type { RunResult } from './run.js';

export function verdict(f: FleetFigure): string {
  if (f.value === null) return 'NOT MEASURED';
  const ok = meets(f);
  return ok === null ? '' : ok ? 'met' : 'missed';
}

function target(f: FleetFigure): string {
  return f.target ? `${f.target.op} ${f.target.value}` : '';
}

function value(f: FleetFigure): string {
  return f.value === null ? '—' : formatValue(f.value);
}

export function table(figures: readonly FleetFigure[]): string {
  const header = ['figure', 'value', 'unit', 'target', 'verdict', 'run'];
  const body = figures.map((f) => [f.name, value(f), f.unit, target(f), verdict(f), f.run]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** `{"figures": {"name": value, ...}}`: null for a figure that could not be measured. */
export function jsonLine(figures: readonly FleetFigure[]): string {
  return JSON.stringify({ figures: Object.fromEntries(figures.map((f) => [f.name, f.value === null ? null : Number(f.value.toPrecision(6))])) });
}

export function describeHost(): MachineInfo {
  const cpus = os.cpus();
  const version = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
  return {
    cpus: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: version(`${PG_BIN}/postgres`, ['--version']),
    redis: version('redis-server', ['--version']),
    load: loadAverage(),
  };
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' / ');
}

export interface FleetReport {
  startedAt: Date;
  seconds: number;
  command: string;
  host: MachineInfo;
  loadAtEnd: string;
  figures: readonly FleetFigure[];
  results: readonly RunResult[];
  parallel: boolean;
  driver: string;
}

export function markdown(r: FleetReport): string {
  const m = r.host;
  const missing = r.figures.filter((f) => f.value === null);
  const limitations = [...new Set(r.results.flatMap((x) => x.plan.limitations))];
  return [
    `# sandfleet fleet benchmark, ${r.startedAt.toISOString()}`,
    '',
    `\`${r.command}\`, ${r.seconds.toFixed(0)} s in all${r.parallel ? ', the backends\' runs at the same time (each with its own PostgreSQL and Redis; latency and CPU figures share the machine)' : ', one run after another'}; workload driver: ${r.driver}. Figures are as measured on this machine, which other people's work may share: a missed target is a figure, not a failure; only a figure that could not be measured makes the exit code 1.`,
    '',
    '| machine | |',
    '|---|---|',
    `| CPUs | ${m.cpus} |`,
    `| memory | ${m.memory} |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| PostgreSQL | ${m.postgres} (a private cluster per run, pg_stat_statements preloaded, fsync and synchronous_commit off) |`,
    `| Redis | ${m.redis} (a private server per redis run) |`,
    `| load average (1/5/15 min) | ${m.load} at the start, ${r.loadAtEnd} at the end |`,
    '',
    '## Figures',
    '',
    '| figure | value | unit | target | verdict | run |',
    '|---|---:|---|---|---|---|',
    ...r.figures.map((f) => `| ${f.name} | ${value(f)} | ${f.unit} | ${target(f).replace('<', '&lt;') || '—'} | ${verdict(f) || '—'} | ${f.run} |`),
    '',
    '## How each figure was measured',
    '',
    ...r.figures.map((f) => `- **${f.name}** (${f.run}): ${f.detail}`),
    '',
    '## Method',
    '',
    ...METHOD,
    '',
    '## Runs',
    '',
    ...r.results.flatMap(runSection),
    ...(limitations.length ? ['## Limitations', '', ...limitations.map((l) => `- ${l}`), ''] : []),
    '## Cost profile: statements by calls',
    '',
    'The daemons\' statements in each closed window (per completed task: what one task of that mode costs), in the steady window (all four pools busy) and in the background window (tasks running, nothing submitted or finished), most calls first, as pg_stat_statements normalized them. Category: sandfleet (`app`), `queue` (schema bullmq), `sim_cloud`, `transaction` (BEGIN/COMMIT).',
    '',
    ...r.results.flatMap(profileSection),
    ...(missing.length ? ['## Not measured', '', ...missing.map((f) => `- ${f.name}: ${f.detail}`), ''] : []),
  ].join('\n');
}

const METHOD = [
  '- **Real daemons.** `bin/sandfleet.js --config <generated yaml> daemon` processes, on the compiled bundle `npm start` runs (`npm run build` first), against a PostgreSQL cluster of the run\'s own (initdb, pg_stat_statements preloaded) and, for the redis backend, a Redis server of its own. The config sets only sizes (pools, `run_concurrency`, `machine_concurrency`) and the sim runner: supervision, reconciling, lease checks, job locks and every grace period are the daemon\'s defaults. The harness talks to the system only through the daemons\' REST API, the CLI (`sandfleet tokens create` for the submitter token) and PostgreSQL (statistics, and the tasks\' `created_at`/`started_at` and machines\' states as an observer role).',
  '- **Fleet.** Four sim pools of equal size with `min_ready = max_size`: `reimage-a`, `reimage-b` (`recycle: reimage`, reused forever) and `delete-a`, `delete-b` (`recycle: delete`, `max_uses: 1`: every task\'s machine is deleted and the autoscaler creates a new one). The sim cloud keeps its default delays (boot 1.5 s, stop and terminate 0.2 s). Task durations are seeded and uniform (payload `sim.durationMs`).',
  '- **Phases.** Warm (the daemons fill every pool from an empty database), idle baseline, one closed window per recycle mode, the burst with its background window, steady state.',
  '- **tx_per_task (closed windows).** From the fleet at rest, tasks go only to one mode\'s two pools, at the rate that keeps 90% of what those pools (or the run slots) can run busy, for a fixed submission period; the window closes when all of them have finished, the pools are back at rest (reimaged machines ready again, deleted ones replaced) and a further 11 s have passed (PostgreSQL backends report their counters at most 10 s after going idle). Committed transactions = the rise of `pg_stat_database.xact_commit` of the daemons\' database, less the harness\'s own reads of that database (counted by pg_stat_statements under the observer role, each its own transaction); divided by the tasks completed. Nothing else runs in the window, so everything is attributed to that mode, including the background the fleet spends anyway (the idle baseline, given with each figure, says how much).',
  '- **Queue and sim_cloud shares.** A daemon statement touches the queue when its text names an object of schema `bullmq` (BullMQ\'s SQL is unqualified, through the search_path, so the names are read from the run\'s catalog: the tables, views, sequences, functions and types only that schema has) or a BullMQ LISTEN channel; it touches the sim cloud when it names schema `sim_cloud`. BullMQ\'s PostgreSQL backend and the sim provider send each statement outside an explicit transaction, so each such statement is one committed transaction; sandfleet\'s share is the rest. The rules are a table in `test/bench/fleet/attribution.ts`.',
  '- **statements_per_task.** pg_stat_statements `calls` of the daemons\' role (top-level statements, BEGIN and COMMIT included) over both closed windows, per completed task.',
  '- **background_qps_per_1k_running.** The burst\'s tasks all last the same time; from the moment all have started until 3 s before the first can end nothing is submitted and nothing finishes (checked). Daemon statements per second in that window, per 1,000 running tasks.',
  '- **Steady state.** Submissions over all four pools at concurrency / mean duration per second; after a ramp as long as the longest task, the measured window: `submit_to_start_*` of the tasks submitted in it (`started_at − created_at`), `daemon_cpu_pct` and `postgres_cpu_pct` (utime+stime deltas from /proc over the window, % of one core; PostgreSQL summed over every process of the run\'s cluster, exited backends included through the postmaster\'s cutime/cstime), `daemon_rss_mib` (median VmRSS over the window, the largest daemon).',
];

function runSection(x: RunResult): string[] {
  const p = x.plan;
  const w = (m: 'reimage' | 'delete') => x.windows[m];
  return [
    `### ${p.label}`,
    '',
    `- ${p.machines.toLocaleString('en-US')} machines (${p.pools.map((pool) => `${pool.name} ${pool.machines}`).join(', ')}); tasks of ${p.durations.minMs / 1000}-${p.durations.maxMs / 1000} s; \`run_concurrency\` ${p.runConcurrency} and \`machine_concurrency\` ${p.machineConcurrency} per daemon: at most ${p.capacity.toLocaleString('en-US')} tasks at once`,
    `- warm: ${x.warm ? `${x.warm.seconds.toFixed(0)} s` : 'did not finish'}; idle baseline ${p.idleS} s`,
    ...(['reimage', 'delete'] as const).map((m) => `- ${m} window: ${w(m) ? `${w(m)!.tasks} tasks at ${w(m)!.perSecond.toFixed(1)}/s (submitted over ${w(m)!.submittedOverS.toFixed(0)} s), ${w(m)!.completed} completed, ${w(m)!.seconds.toFixed(0)} s (back at rest ${w(m)!.restS.toFixed(0)} s after the last task)` : 'did not run'}`),
    `- burst: ${x.burst ? `${x.burst.tasks} tasks of ${p.burst.durationMs / 1000} s, all started after ${x.burst.allStartedS.toFixed(1)} s; background window ${'seconds' in x.burst.background ? `${x.burst.background.seconds.toFixed(0)} s with ${x.burst.background.running} running` : x.burst.background.reason}` : 'did not run'}`,
    `- steady: ${x.steady ? `${x.steady.perSecond.toFixed(1)} submissions/s wanted, ${(x.steady.latencies.length / x.steady.seconds).toFixed(1)}/s accepted in the window, ramp ${x.steady.rampS.toFixed(0)} s, window ${x.steady.seconds.toFixed(0)} s, mean ${x.steady.running.toFixed(0)} running, ${x.steady.finishedInWindow} finished in the window${x.steady.squeezed.length ? `; cut short: ${x.steady.squeezed.join(', ')}` : ''}` : 'did not run'}`,
    `- submissions: ${x.submissions.accepted} accepted, ${x.submissions.refused} refused, ${x.submissions.unanswered} unanswered${x.submissions.problems.length ? ` (${x.submissions.problems.join('; ')})` : ''}`,
    `- daemon log lines at level error: ${x.daemonErrors.count}${x.daemonErrors.samples.length ? `, e.g. \`${x.daemonErrors.samples[0]!.replace(/`/g, "'").slice(0, 300)}\`` : ''}`,
    ...(x.failure ? [`- **failed in ${x.failure.phase}**: ${x.failure.error.split('\n')[0]}`] : []),
    `- ${x.seconds.toFixed(0)} s in all`,
    '',
  ];
}

function profileSection(x: RunResult): string[] {
  const rows = (title: string, top: readonly RankedStatement[] | undefined, seconds: number | undefined, tasks?: number) =>
    top && seconds
      ? [
          `**${x.plan.label}, ${title}**`,
          '',
          `| calls | per s |${tasks ? ' per task |' : ''} category | statement |`,
          `|---:|---:|${tasks ? '---:|' : ''}---|---|`,
          ...top.map((s) => `| ${s.calls} | ${(s.calls / seconds).toFixed(1)} |${tasks ? ` ${(s.calls / tasks).toFixed(2)} |` : ''} ${s.category} | \`${oneLine(s.query)}\` |`),
          '',
        ]
      : [];
  const bg = x.burst?.background;
  return [
    ...(['reimage', 'delete'] as const).flatMap((m) => rows(`${m} window (${x.windows[m]?.completed ?? 0} tasks)`, x.windows[m]?.top, x.windows[m]?.seconds, x.windows[m]?.completed)),
    ...rows('steady window', x.steady?.top, x.steady?.seconds),
    ...rows('background window', bg && 'top' in bg ? bg.top : undefined, bg && 'seconds' in bg ? bg.seconds : undefined),
  ];
}

/** A statement on one line, comments dropped, at most 160 characters. */
export function oneLine(query: string): string {
  const text = query.replace(/--[^\n]*/g, ' ').replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|').replace(/`/g, "'");
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
