// The bench's chart, drawn by Vega-Lite as SVG: one horizontal bar per figure that has a limit,
// showing how close to the limit it comes (1 = at the limit, past 1 = better than it) on a log
// scale, with the figure printed beside each bar (for latency and memory, as 1/ratio so it
// matches the bar's length).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { efficiencyOf } from './figures.js';
import { formatRatio, type Row } from './report.js';

/** The scale runs from 10^-3 to 10^1; a figure beyond either end is drawn at it. */
const DOMAIN: [number, number] = [1e-3, 10];

export async function chartSvg(rows: readonly Row[]): Promise<string> {
  const values = rows
    .filter((r) => r.figure.limit)
    .map((row) => {
      const efficiency = efficiencyOf(row.figure, row.limit);
      // The bar is the efficiency; where lower is better the report's ratio (value/limit) is its inverse.
      const text = row.ratio === null || efficiency === null ? 'N/A' : row.figure.better === 'higher' ? formatRatio(row.ratio) : `${formatRatio(efficiency)} = 1/${formatRatio(row.ratio)}`;
      return { figure: row.figure.key, unit: row.figure.unit, efficiency: Math.min(DOMAIN[1], Math.max(DOMAIN[0], efficiency ?? DOMAIN[0])), text };
    });
  const x = { field: 'efficiency', type: 'quantitative', scale: { type: 'log', domain: DOMAIN }, title: 'against the limit (1 = at the limit; longer is better; latency and memory: limit/value)' } as const;
  const y = { field: 'figure', type: 'nominal', sort: null, title: null } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'sandfleet bench: each figure against its limit',
    width: 540,
    data: { values },
    layer: [
      { mark: 'bar', encoding: { x, x2: { datum: DOMAIN[0] }, y, color: { field: 'unit', type: 'nominal', title: 'unit' } } },
      { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { x, y, text: { field: 'text' } } },
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { datum: 1 } } },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
