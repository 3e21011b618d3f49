// `npm run bench:fleet`: real daemon processes running a 10,000-machine sim fleet (four pools,
// two reimaged and two deleted after every task) on a PostgreSQL cluster of their own with
// pg_stat_statements, on each queue backend, with one and with three daemons: warm, idle,
// a closed window per recycle mode, a burst of 1,000 with a background window, steady state.
// Prints each figure next to its target, writes bench/results/fleet-<time>.md (and
// fleet-latest.md); with --json the last stdout line is `{"figures": {...}}`. Progress goes
// to stderr. Measured, never asserted: exit 1 only when a figure could not be measured.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDaemon } from './daemon-process.js';
import { Cleanup } from './fleet/cleanup.js';
import { figuresOf } from './fleet/figures.js';
import { cloudFigures } from './fleet/cloud-figures.js';
import { runCloudPhase } from './fleet/cloud.js';
import { FLEET_PHASES, parseFleetOptions, type FleetOptions } from './fleet/options.js';
import { planRun, type RunPlan } from './fleet/plan.js';
import { describeHost, jsonLine, loadAverage, markdown, table } from './fleet/report.js';
import { runFleet, type RunResult } from './fleet/run.js';
import { DRIVERS, type WorkloadDriver } from './fleet/workload.js';

function progress(label: string): (message: string) => void {
  const began = Date.now();
  return (message) => process.stderr.write(`[${label} +${((Date.now() - began) / 1000).toFixed(0)}s] ${message}\n`);
}

async function runAll(options: FleetOptions, cleanup: Cleanup, startedAt: number): Promise<RunResult[]> {
  const driver: WorkloadDriver = DRIVERS[options.driver];
  const results: RunResult[] = [];
  if (!options.phases.some((p) => FLEET_PHASES.includes(p))) return results;
  for (const daemons of options.daemonCounts) {
    const plans: RunPlan[] = options.backends.map((backend) => planRun(options, backend, daemons, driver, startedAt));
    if (options.parallel) results.push(...(await Promise.all(plans.map((p) => runFleet(p, driver, cleanup, progress(p.label))))));
    else for (const p of plans) results.push(await runFleet(p, driver, cleanup, progress(p.label)));
  }
  return results;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseFleetOptions(argv);
  const startedAt = new Date();
  const host = describeHost();
  const cleanup = new Cleanup();
  process.once('SIGINT', () => {
    const stopped = cleanup.runAll();
    process.stderr.write(`\ninterrupted: stopped ${stopped.length ? stopped.join(', ') : 'nothing'} (daemons, PostgreSQL clusters and Redis servers of the runs under way; their temporary directories removed)\n`);
    // Give the SIGKILLed children a moment to be reaped before this process goes.
    setTimeout(() => process.exit(130), 500);
  });
  process.stderr.write(
    `sandfleet bench:fleet${options.quick ? ' (quick)' : ''}: ${options.machines.toLocaleString('en-US')} machines, backends ${options.backends.join(', ')}, daemons ${options.daemonCounts.join(', ')}${options.parallel ? ', backends in parallel' : ''}; ${host.cpus}, ${host.memory}, load ${host.load}\n`,
  );

  const cloud = options.phases.includes('cloud') ? await runCloudPhase({ clouds: options.clouds, burst: options.cloudBurst, steadyS: options.quick ? 15 : 60, log: progress('cloud') }) : null;
  await buildDaemon();
  const results = await runAll(options, cleanup, startedAt.getTime());
  const figures = [...cloudFigures(cloud, options.cloudBurst), ...figuresOf(results, options)];
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const dir = path.resolve(options.outDir);
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const report = markdown({
    startedAt,
    seconds,
    command: `npm run bench:fleet${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    host,
    loadAtEnd: loadAverage(),
    figures,
    results,
    parallel: options.parallel && options.backends.length > 1,
    driver: DRIVERS[options.driver].name,
  });
  const file = path.join(dir, `fleet-${stamp}.md`);
  await writeFile(file, report);
  await writeFile(path.join(dir, 'fleet-latest.md'), report);

  const missing = figures.filter((f) => f.value === null);
  console.log(`\n${table(figures)}\n`);
  for (const f of missing) console.log(`not measured: ${f.name}: ${f.detail}`);
  for (const l of [...new Set(results.flatMap((r) => r.plan.limitations))]) console.log(`limitation: ${l}`);
  console.log(`report: ${path.relative(process.cwd(), file)} (also fleet-latest.md); ${seconds.toFixed(0)} s in all`);
  if (options.json) console.log(jsonLine(figures));
  return missing.length ? 1 : 0;
}

// Queue connections and timers may linger; the run is over.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
