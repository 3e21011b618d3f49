// The results as people read them: a table and one `ratio:` line per figure on the terminal,
// and the same with the machine and the method in markdown.
import { ratioOf, type Figure } from './figures.js';
import type { MachineInfo } from './machine.js';

export interface Row {
  figure: Figure;
  limit: Figure | undefined;
  ratio: number | null;
}

export interface Failure {
  title: string;
  error: string;
}

export function rowsOf(figures: readonly Figure[]): Row[] {
  const byKey = new Map(figures.map((f) => [f.key, f]));
  return figures.map((figure) => {
    const limit = figure.limit ? byKey.get(figure.limit) : undefined;
    return { figure, limit, ratio: ratioOf(figure, limit) };
  });
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toFixed(digits);
}

export function formatRatio(ratio: number | null): string {
  if (ratio === null) return 'n/a';
  return ratio >= 100 ? ratio.toFixed(0) : ratio.toPrecision(3);
}

export function table(rows: readonly Row[]): string {
  const header = ['figure', 'value', 'unit', 'limit', 'limit value', 'ratio'];
  const body = rows.map(({ figure, limit, ratio }) => [
    figure.key,
    formatValue(figure.value),
    figure.unit,
    figure.limit ?? '(limit)',
    limit ? `${formatValue(limit.value)} ${limit.unit}` : figure.limit ? 'not measured' : '',
    figure.limit ? formatRatio(ratio) : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = new Set([1, 4, 5]);
  const line = (cells: string[]) => cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** `ratio: <figure> = <x> of <limit>`: x is a fraction of the limit for throughput, a multiple for latency and memory. */
export function ratioLines(rows: readonly Row[]): string[] {
  return rows
    .filter((r) => r.figure.limit)
    .map(({ figure, limit, ratio }) => `ratio: ${figure.key} = ${formatRatio(ratio)} of ${figure.limit}${limit ? '' : ' (limit not measured)'}`);
}

export interface ReportInput {
  startedAt: Date;
  seconds: number;
  mode: string;
  machine: MachineInfo;
  loadAtEnd: string;
  rows: readonly Row[];
  failures: readonly Failure[];
  chart: string;
}

export function markdown(r: ReportInput): string {
  const m = r.machine;
  const figures = r.rows.map(({ figure: f, limit, ratio }) =>
    `| ${f.key} | ${f.label} | ${formatValue(f.value)} | ${f.unit} | ${f.limit ?? '—'} | ${limit ? `${formatValue(limit.value)} ${limit.unit}` : f.limit ? 'not measured' : '—'} | ${f.limit ? formatRatio(ratio) : '—'} |`,
  );
  const derived = perTaskBudget(r.rows);
  return [
    `# sandfleet benchmarks, ${r.startedAt.toISOString()}`,
    '',
    `\`npm run bench${r.mode}\`, ${r.seconds.toFixed(0)} s in all. All figures come from one run on this machine, which other people's tests share: they are as measured, noisy, and nothing fails on them.`,
    '',
    '| machine | |',
    '|---|---|',
    `| CPUs | ${m.cpus} |`,
    `| memory | ${m.memory} |`,
    `| OS | ${m.os} |`,
    `| Node.js | ${m.node} |`,
    `| PostgreSQL | ${m.postgres} |`,
    `| Redis | ${m.redis} |`,
    `| load average (1/5/15 min) | ${m.load} at the start, ${r.loadAtEnd} at the end |`,
    '',
    '## Figures',
    '',
    '| figure | what | value | unit | limit | limit value | ratio |',
    '|---|---|---:|---|---|---:|---:|',
    ...figures,
    '',
    'Ratio = value / limit value: for throughput the fraction of the limit reached, for latency and memory the multiple of it.',
    '',
    '```text',
    ...ratioLines(r.rows),
    '```',
    ...(derived.length ? ['', ...derived] : []),
    '',
    '## How each figure was measured',
    '',
    ...r.rows.map(({ figure: f }) => `- **${f.key}**: ${f.detail ?? f.label}`),
    '',
    '## Chart',
    '',
    `![each figure against its limit](${r.chart})`,
    '',
    'One bar per figure that has a limit, on a log scale from 0.001 to 10: the ratio for throughput, its inverse for latency and memory, so a longer bar is always closer to the limit; 1 (the dark line) means at the limit, past it better than the limit. The printed number is the ratio (X: a multiple of the limit). Blue: throughput (b), orange: latency (c), green: memory (d).',
    ...(r.failures.length ? ['', '## Not measured', '', ...r.failures.map((f) => `- ${f.title}: ${f.error}`)] : []),
    '',
  ].join('\n');
}

/** The sandfleet figures against pgbench's single-row UPDATE: the database budget they spend. */
function perTaskBudget(rows: readonly Row[]): string[] {
  const find = (key: string) => rows.find((r) => r.figure.key === key)?.figure;
  const update = find('pg.update');
  const latency = find('pg.update.latency');
  const lines: string[] = [];
  for (const { figure: f } of rows) {
    if (update && f.key.startsWith('e2e.') && f.value > 0) {
      lines.push(`- ${f.key}: ${formatValue(f.value)} tasks/s is ${formatRatio(f.value / update.value)} of pgbench's ${formatValue(update.value)} UPDATEs/s: one task costs about ${formatValue(update.value / f.value)} single-row UPDATEs' worth of the machine.`);
    }
    if (latency && f.key.startsWith('lease.') && latency.value > 0) {
      lines.push(`- ${f.key}: ${formatValue(f.value)} ms is ${formatRatio(f.value / latency.value)} times a lone single-row UPDATE (${formatValue(latency.value)} ms).`);
    }
  }
  return lines.length ? ['Against the database itself (pgbench):', '', ...lines] : [];
}
