// `npm run economics -- --simulate` as a user runs it: the figures line, the files, and refusals.
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { batchWorkload } from '../bench/economics/batch-trace.js';
import { simulateCommand } from '../bench/economics/simulate-command.js';

afterEach(() => vi.restoreAllMocks());

async function run(args: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void out.push(String(line)));
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void (err += `${String(line)}\n`));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return { code: await simulateCommand(['--simulate', ...args]), out, err };
}

describe('economics --simulate', () => {
  it('ends with the figures line, priced at the given prices, and writes the report and the chart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'economics-'));
    const trace = path.join(dir, 'night-shift.csv');
    await writeFile(trace, `arrival_s,duration_s\n${Array.from({ length: 40 }, (_, i) => `${i * 45},${30 + (i % 5) * 20}`).join('\n')}\n`);
    const { code, out } = await run(['--trace', trace, '--synthetic-hours', '0.2', '--kinds', 'ec2', '--price', 'ec2=0.5/0.2', '--json', '--out', dir]);
    expect(code).toBe(0);
    const { figures } = JSON.parse(out.at(-1)!) as { figures: Record<string, number> };
    for (const trace of ['synthetic', 'batches', 'night-shift']) {
      for (const policy of ['sandfleet', 'on-demand', 'keep-alive', 'leaky-bucket']) {
        const key = `${trace}.ec2.${policy}`;
        expect(figures[`${key}.x_oracle`]).toBeGreaterThanOrEqual(1);
        expect(figures[`${key}.cost_spot`]! / figures[`${key}.cost`]!).toBeCloseTo(0.4, 2);
      }
    }
    expect(out.join('\n')).toContain('0.5 per machine-hour on demand, 0.2 as spot');
    expect((await readdir(dir)).filter((f) => /^economics-sim-.*\.(md|svg)$/.test(f))).toHaveLength(2);
  });

  it('builds the batches trace from its seed: sorted arrivals, a batch at about every hour, run times within 5 s – 2 h', () => {
    const day = batchWorkload(24, 7);
    expect(batchWorkload(24, 7)).toEqual(day);
    expect(day.tasks.map((t) => t.at)).toEqual([...day.tasks.map((t) => t.at)].sort((a, b) => a - b));
    expect(day.tasks.every((t) => t.runS >= 5 && t.runS <= 7200)).toBe(true);
    // Each hour's batch (5–40 tasks within 30 s) lands within 3 minutes of the hour; a trickle of
    // about 6 an hour runs between.
    const nearHour = Array.from({ length: 23 }, (_, k) => day.tasks.filter((t) => Math.abs(t.at - (k + 1) * 3600 - 15) <= 195).length);
    expect(Math.min(...nearHour)).toBeGreaterThanOrEqual(5);
    const between = day.tasks.filter((t) => Math.abs(((t.at + 1800) % 3600) - 1800) > 200).length;
    expect(between).toBeGreaterThan(24 * 2);
    expect(between).toBeLessThan(24 * 12);
  });

  it.each([
    ['a price for an unknown kind', ['--price', 'gcp=0.1'], /--price: expected kind=on-demand\[\/spot\].*"gcp=0\.1"/],
    ['a negative price', ['--price', 'ec2=-1'], /--price must be a number ≥ 0, got "-1"/],
    ['an unknown option', ['--colour'], /colour/],
  ])('refuses %s with exit 2, naming it', async (_, args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });
});
