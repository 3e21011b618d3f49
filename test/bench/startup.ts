// (d) CLI start-up: wall time of `sandfleet --help` and `sandfleet tasks ls --json` (a database
// round trip), median of several runs, on the compiled build and, as before it, on the sources
// through tsx. A user pays this on every command.
import { spawnSync } from 'node:child_process';
import { buildDaemon } from './daemon-process.js';
import { withBenchDatabase } from './database.js';
import { percentile, type Figure, type Step } from './figures.js';
import type { BenchOptions } from './options.js';
import { childEnv, ROOT, sandfleetArgs, type Runtime } from './sandfleet-bin.js';

/** Median wall time in ms of `runs` runs of the command; any failed run fails the step. */
function wallTime(runtime: Runtime, args: string[], env: Record<string, string>, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const began = performance.now();
    const run = spawnSync(process.execPath, sandfleetArgs(runtime, args), { cwd: ROOT, env: childEnv(env), encoding: 'utf8', timeout: 60_000 });
    times.push(performance.now() - began);
    if (run.status !== 0) throw new Error(`sandfleet ${args.join(' ')} (${runtime}) exited ${run.status ?? run.signal}: ${run.stderr.trim().slice(-300)}`);
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

function figure(key: string, label: string, value: number, runs: number, runtime: Runtime, limit?: string): Figure {
  const how = runtime === 'dist' ? 'node bin/sandfleet.js (dist/)' : 'node --import tsx on src/cli/main.ts, as the binary ran before dist/ (before)';
  return { key, label, value, unit: 'ms', better: 'lower', ...(limit ? { limit } : {}), detail: `${how}; median of ${runs} runs` };
}

export function startupSteps(o: BenchOptions): Step[] {
  const runs = o.quick ? 3 : 9;
  return [
    {
      section: 'd',
      title: `CLI wall time, --help and tasks ls, compiled vs. tsx (${runs} runs each)`,
      run: async (): Promise<Figure[]> => {
        await buildDaemon();
        return withBenchDatabase('startup', { max: 1 }, ({ url }) => {
          const env = { DATABASE_URL: url };
          const ls = ['tasks', 'ls', '--json'];
          return Promise.resolve([
            figure('cli.help.tsx', 'sandfleet --help, the sources through tsx (before)', wallTime('tsx', ['--help'], env, runs), runs, 'tsx'),
            figure('cli.help', 'sandfleet --help', wallTime('dist', ['--help'], env, runs), runs, 'dist', 'cli.help.tsx'),
            figure('cli.tasks-ls.tsx', 'sandfleet tasks ls --json, the sources through tsx (before)', wallTime('tsx', ls, env, runs), runs, 'tsx'),
            figure('cli.tasks-ls', 'sandfleet tasks ls --json', wallTime('dist', ls, env, runs), runs, 'dist', 'cli.tasks-ls.tsx'),
          ]);
        });
      },
    },
  ];
}
