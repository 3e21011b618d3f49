// `npm run bench [-- --json]`: the limits (a), then sandfleet against them (b, c, d), all in one run on one
// machine. Prints a table and one `ratio:` line per figure, and writes a markdown report and a
// PNG chart under bench/results/. Speed is measured here, never asserted: a figure that could
// not be measured is reported (and makes the exit code 1), a slow one is just a figure.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chartSvg } from './chart.js';
import type { Figure, Step } from './figures.js';
import { latencySteps } from './latency.js';
import { limitSteps } from './limits.js';
import { describeMachine, loadAverage } from './machine.js';
import { memorySteps } from './memory.js';
import { startupSteps } from './startup.js';
import { parseOptions, type BenchOptions } from './options.js';
import { markdown, ratioLines, rowsOf, table, type Failure } from './report.js';
import { throughputSteps } from './throughput.js';

function stepsOf(o: BenchOptions): Step[] {
  const all = [...limitSteps(o), ...throughputSteps(o), ...latencySteps(o), ...memorySteps(o), ...startupSteps(o)];
  return all.filter((s) => o.sections.has(s.section));
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const startedAt = new Date();
  const machine = await describeMachine();
  console.log(`sandfleet bench${options.quick ? ' (quick)' : ''}: ${machine.cpus}, ${machine.memory}, Node ${machine.node}, ${machine.postgres}, ${machine.redis}, load ${machine.load}`);
  // Ctrl-C skips the cleanup in `finally` blocks; say what may be left behind.
  process.once('SIGINT', () => {
    console.error('\ninterrupted: throwaway databases sf_bench_* and Redis keys sfbench-* of this run may remain');
    process.exit(130);
  });

  const figures: Figure[] = [];
  const failures: Failure[] = [];
  for (const step of stepsOf(options)) {
    const began = performance.now();
    process.stdout.write(`(${step.section}) ${step.title} ... `);
    try {
      const measured = await step.run();
      figures.push(...measured);
      console.log(`${((performance.now() - began) / 1000).toFixed(1)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failures.push({ title: `(${step.section}) ${step.title}`, error: message });
      console.log(`failed after ${((performance.now() - began) / 1000).toFixed(1)} s: ${message}`);
    }
  }

  const rows = rowsOf(figures);
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  console.log(`\n${table(rows)}\n\n${ratioLines(rows).join('\n')}`);
  for (const f of failures) console.log(`not measured: ${f.title}: ${f.error}`);

  const dir = path.resolve(options.outDir);
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const svg = await chartSvg(rows);
  const report = (chart: string) =>
    markdown({ startedAt, seconds, mode: argv.length ? ` -- ${argv.join(' ')}` : '', machine, loadAtEnd: loadAverage(), rows, failures, chart });
  await writeFile(path.join(dir, `chart-${stamp}.svg`), svg);
  await writeFile(path.join(dir, 'chart.svg'), svg);
  await writeFile(path.join(dir, `report-${stamp}.md`), report(`chart-${stamp}.svg`));
  await writeFile(path.join(dir, 'latest.md'), report('chart.svg'));
  console.log(`\nreport: ${path.relative(process.cwd(), path.join(dir, `report-${stamp}.md`))} (also latest.md), chart: ${path.relative(process.cwd(), path.join(dir, 'chart.svg'))}; ${seconds.toFixed(0)} s in all`);
  if (options.json) console.log(JSON.stringify({ figures: Object.fromEntries(figures.map((f) => [f.key, Number(f.value.toPrecision(6))])) }));
  return failures.length ? 1 : 0;
}

// Queue connections and timers of the measured schedulers may linger; the run is over.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
