// The bench's chart: drawn by Vega-Lite as SVG, a bar per figure that has a limit, labelled
// with its ratio to the limit.
import { describe, expect, it } from 'vitest';
import { chartSvg } from '../bench/chart.js';
import type { Figure } from '../bench/figures.js';
import { rowsOf } from '../bench/report.js';

describe('bench chart', () => {
  it('draws a labelled bar for each figure compared against a limit, and none for the limits themselves', async () => {
    const figures: Figure[] = [
      { key: 'pgbench.tps', label: 'pgbench', value: 1000, unit: 'tx/s', better: 'higher' },
      { key: 'e2e.tasks', label: 'tasks', value: 250, unit: 'tasks/s', better: 'higher', limit: 'pgbench.tps' },
      { key: 'noop.p50', label: 'noop latency', value: 2, unit: 'ms', better: 'lower' },
      { key: 'e2e.p50', label: 'latency', value: 8, unit: 'ms', better: 'lower', limit: 'noop.p50' },
    ];
    const svg = await chartSvg(rowsOf(figures));
    expect(svg.startsWith('<svg')).toBe(true);
    const labels = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(labels).toEqual(expect.arrayContaining(['e2e.tasks', 'e2e.p50']));
    expect(labels).not.toContain('pgbench.tps');
    // Throughput reads as its ratio; latency as 1/ratio, so the text matches the bar.
    expect(labels.some((l) => l?.startsWith('0.25'))).toBe(true);
    expect(labels.some((l) => l?.includes('= 1/4'))).toBe(true);
  });
});
