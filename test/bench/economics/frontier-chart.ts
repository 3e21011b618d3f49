// The cost/wait chart of a simulated comparison, drawn by Vega-Lite as SVG: for each trace (rows)
// and pool kind (columns), machine-minutes as × the oracle against p95 wait, the forecasting
// policy's frontier over its knob as a line, and the baselines and the default policy as points.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CompareRow } from './compare.js';

interface Point {
  trace: string;
  kind: string;
  policy: string;
  label: string;
  xOracle: number;
  p95: number;
  frontier: boolean;
}

export async function frontierChart(rows: readonly CompareRow[]): Promise<string> {
  const values: Point[] = rows.map((r) => ({
    trace: r.trace,
    kind: r.kind,
    policy: r.policy,
    label: r.setting === undefined ? r.policy : String(r.setting),
    xOracle: Math.round(r.xOracle * 1000) / 1000,
    p95: Math.round(r.waits.p95),
    frontier: r.setting !== undefined,
  }));
  const x = { field: 'xOracle', type: 'quantitative', title: 'machine-minutes, × oracle', scale: { zero: false } } as const;
  const y = { field: 'p95', type: 'quantitative', title: 'p95 wait (s)', scale: { zero: true } } as const;
  const color = { field: 'policy', type: 'nominal', title: 'policy' } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    facet: { row: { field: 'trace', type: 'nominal', title: null }, column: { field: 'kind', type: 'nominal', title: null } },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 320,
      height: 220,
      layer: [
        { transform: [{ filter: 'datum.frontier' }], mark: { type: 'line', point: true }, encoding: { x, y, color, order: { field: 'xOracle' } } },
        { transform: [{ filter: '!datum.frontier' }], mark: { type: 'point', filled: true, size: 80 }, encoding: { x, y, color, shape: color } },
        { mark: { type: 'text', dx: 6, dy: -6, align: 'left', fontSize: 9 }, encoding: { x, y, text: { field: 'label' } } },
      ],
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
