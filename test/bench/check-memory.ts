// `npm run bench:check -- [--events N] [--json] [--limit-mib M]`: `sandfleet check` on a database
// of N events (default 10,000,000) runs in bounded memory. Creates a throwaway database, writes a
// consistent history server side (check-seed.ts), then runs the real CLI (the compiled bundle, as
// deployed) in a child process and reports its peak RSS (getrusage's maxrss, read in the child
// as it exits) and wall time, next to the limit. Exit 1 when the check is not clean (the history
// is consistent, so any violation is the checker's bug) or the peak is over the limit. Progress
// goes to stderr; with --json the last stdout line is `{"figures": {...}}`. The database is
// dropped at the end, also on failure.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { DEFAULT_CLUSTER } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/index.js';
import { eventCount, seedHistory, shapeFor } from './check-seed.js';
import { buildDaemon } from './daemon-process.js';
import { withBenchDatabase } from './database.js';
import { BIN, ROOT, childEnv } from './sandfleet-bin.js';

interface Options {
  events: number;
  json: boolean;
  limitMiB: number;
}

interface CheckRun {
  code: number | null;
  /** The child's own figure (getrusage at exit); null if it died without exiting normally. */
  maxRssMiB: number | null;
  /** The largest VmHWM read from /proc while it ran: the fallback when it crashed. */
  polledPeakMiB: number | null;
  wallS: number;
  stdout: string;
  stderr: string;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: { events: { type: 'string', default: '10000000' }, json: { type: 'boolean', default: false }, 'limit-mib': { type: 'string', default: '300' } },
    strict: true,
  });
  const events = Number(values.events);
  const limitMiB = Number(values['limit-mib']);
  if (!Number.isInteger(events) || events < 1000) throw new Error(`--events must be an integer of at least 1000, not ${values.events}`);
  if (!Number.isFinite(limitMiB) || limitMiB <= 0) throw new Error(`--limit-mib must be a positive number, not ${values['limit-mib']}`);
  return { events, json: values.json ?? false, limitMiB };
}

const progress = (began: number) => (message: string) => process.stderr.write(`[check-memory +${((Date.now() - began) / 1000).toFixed(0)}s] ${message}\n`);

// Loaded into the child before the CLI: writes its resource usage to fd 3 as it exits.
const RUSAGE_HOOK = `data:text/javascript,${encodeURIComponent(
  `import { writeSync } from 'node:fs'; process.on('exit', () => { try { writeSync(3, JSON.stringify(process.resourceUsage())); } catch {} });`,
)}`;

/** `sandfleet check --json` on `url`, as an operator would run it, measured from outside. */
async function runCheck(url: string): Promise<CheckRun> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', RUSAGE_HOOK, BIN, 'check', '--json'], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: url }),
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const collect = (stream: NodeJS.ReadableStream | null | undefined) => {
    let text = '';
    stream?.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    return () => text;
  };
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  const usage = collect(child.stdio[3] as NodeJS.ReadableStream | null);
  let polled: number | null = null;
  const poll = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8')
      .then((status) => {
        const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
        if (Number.isFinite(kib)) polled = Math.max(polled ?? 0, kib / 1024);
      })
      .catch(() => undefined);
  }, 200);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearInterval(poll);
  const wallS = (performance.now() - started) / 1000;
  const reported = usage() ? (JSON.parse(usage()) as { maxRSS?: number }).maxRSS : undefined;
  return { code, maxRssMiB: reported === undefined ? null : reported / 1024, polledPeakMiB: polled, wallS, stdout: stdout(), stderr: stderr() };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const log = progress(Date.now());
  await buildDaemon();
  return withBenchDatabase('check', { max: 2 }, async (database) => {
    const shape = shapeFor(options.events, 'check-bench', DEFAULT_CLUSTER);
    log(`seeding ${eventCount(shape).toLocaleString('en-US')} events: ${shape.slots.toLocaleString('en-US')} tasks, ${shape.machines.toLocaleString('en-US')} machines (${shape.alive} live) in ${database.name}`);
    const seedStarted = performance.now();
    // Its own connection: index builds on 10M rows outlast the 30 s statement timeout of a pool.
    const seeder = openDatabase({ url: database.url, max: 1, statementTimeoutMs: 0, applicationName: 'sandfleet-bench-check-seed' });
    try {
      await seeder.db.execute(sql`SET maintenance_work_mem = '512MB'`);
      await seedHistory(seeder.db, shape, (message) => {
        if (!message.startsWith('events of') || message.includes('00000-')) log(message);
      });
    } finally {
      await seeder.close();
    }
    const seedS = (performance.now() - seedStarted) / 1000;
    const size = await database.db.execute(sql`SELECT count(*)::bigint AS n, pg_total_relation_size('events') AS bytes FROM events`);
    const events = Number(size.rows[0]?.n);
    log(`seeded in ${seedS.toFixed(0)} s: ${events.toLocaleString('en-US')} events, ${(Number(size.rows[0]?.bytes) / 2 ** 30).toFixed(2)} GiB with indexes; running sandfleet check`);
    const run = await runCheck(database.url);
    const peak = run.maxRssMiB ?? run.polledPeakMiB;
    let report: { ok?: boolean; violations?: unknown[]; checked?: Record<string, number> } = {};
    try {
      report = JSON.parse(run.stdout) as typeof report;
    } catch {
      log(`the check printed no JSON report (exit ${run.code}): ${run.stderr.slice(-2000)}`);
    }
    const clean = run.code === 0 && report.ok === true;
    const within = peak !== null && peak <= options.limitMiB;
    const mib = (v: number | null) => (v === null ? 'unknown' : `${v.toFixed(0)} MiB`);
    console.log(`sandfleet check on ${events.toLocaleString('en-US')} events (${shape.slots.toLocaleString('en-US')} tasks, ${shape.machines.toLocaleString('en-US')} machines, ${shape.alive} live)`);
    console.log(`  peak RSS   ${mib(peak).padStart(10)}   limit ${options.limitMiB} MiB   ${within ? 'ok' : 'OVER'}${run.maxRssMiB === null ? ' (polled: the check did not exit normally)' : ''}`);
    console.log(`  wall time  ${`${run.wallS.toFixed(1)} s`.padStart(10)}`);
    console.log(`  result     exit ${run.code}, ${clean ? 'no violations' : `not clean: ${JSON.stringify(report.violations ?? []).slice(0, 500)}`}, checked ${JSON.stringify(report.checked ?? {})}`);
    if (options.json) {
      const figures = { events, peakRssMiB: peak === null ? null : Number(peak.toFixed(1)), limitMiB: options.limitMiB, wallS: Number(run.wallS.toFixed(2)), seedS: Number(seedS.toFixed(1)), clean };
      console.log(JSON.stringify({ figures }));
    }
    return clean && within ? 0 : 1;
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // drizzle's query errors carry PostgreSQL's own in `cause`.
    const cause = error instanceof Error && error.cause instanceof Error ? `\ncaused by: ${error.cause.message}` : '';
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}${cause}\n`);
    process.exit(1);
  },
);
