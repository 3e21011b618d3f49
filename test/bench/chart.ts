// The PNG chart: one horizontal bar per figure that has a limit, showing how close to the limit
// it comes (1 = at the limit, past 1 = better than it) on a log scale, with the figure printed
// beside each bar (for latency and memory, as 1/ratio so it matches the bar's length).
import { efficiencyOf, type Unit } from './figures.js';
import { Canvas, type Rgb } from './png.js';
import { formatRatio, type Row } from './report.js';

const WIDTH = 960;
const TOP = 56;
const PITCH = 30;
const BAR = 18;
const PLOT_LEFT = 360;
const PLOT_RIGHT = 900;
/** The scale runs from 10^-BELOW to 10^ABOVE. */
const BELOW = 3;
const ABOVE = 1;

const INK: Rgb = [33, 33, 33];
const GRID: Rgb = [220, 220, 220];
const COLOR: Record<Unit, Rgb> = {
  'tasks/s': [52, 101, 164],
  'jobs/s': [52, 101, 164],
  'tx/s': [52, 101, 164],
  ms: [230, 126, 34],
  MiB: [46, 139, 87],
};

export function chartPng(rows: readonly Row[]): Buffer {
  const compared = rows.filter((r) => r.figure.limit);
  const height = TOP + compared.length * PITCH + 48;
  const canvas = new Canvas(WIDTH, height);
  canvas.text(20, 12, 'SANDFLEET BENCH: EACH FIGURE AGAINST ITS LIMIT (1 = AT THE LIMIT, LOG SCALE)', INK);
  canvas.text(20, 32, 'LONGER IS BETTER. LATENCY AND MEMORY: LIMIT/VALUE = 1/RATIO', INK);
  const bottom = TOP + compared.length * PITCH;
  for (let e = -BELOW; e <= ABOVE; e++) {
    const x = xOf(10 ** e);
    // The limit itself gets a darker line.
    canvas.rect(x, TOP - 6, e === 0 ? 2 : 1, bottom - TOP + 6, e === 0 ? INK : GRID);
    const label = e < 0 ? (10 ** e).toFixed(-e) : String(10 ** e);
    canvas.text(x - Canvas.textWidth(label) / 2, bottom + 10, label, INK);
  }
  compared.forEach((row, i) => {
    const y = TOP + i * PITCH;
    canvas.text(20, y + (BAR - Canvas.textHeight()) / 2, row.figure.key.slice(0, 27), INK);
    const efficiency = efficiencyOf(row.figure, row.limit);
    // The bar is the efficiency; where lower is better the report's ratio (value/limit) is its inverse.
    const text = row.ratio === null || efficiency === null ? 'N/A' : row.figure.better === 'higher' ? formatRatio(row.ratio) : `${formatRatio(efficiency)} = 1/${formatRatio(row.ratio)}`;
    const end = efficiency === null ? PLOT_LEFT : Math.max(PLOT_LEFT + 2, xOf(efficiency));
    canvas.rect(PLOT_LEFT, y, end - PLOT_LEFT, BAR, COLOR[row.figure.unit]);
    const width = Canvas.textWidth(text);
    const textY = y + (BAR - Canvas.textHeight()) / 2;
    // Beside the bar when there is room, otherwise inside its end, in white.
    if (end + 8 + width <= WIDTH - 4) {
      // A white ground, so the grid lines do not run through the digits.
      canvas.rect(end + 4, y, width + 8, BAR, [255, 255, 255]);
      canvas.text(end + 8, textY, text, INK);
    }
    else canvas.text(end - 8 - width, textY, text, [255, 255, 255]);
  });
  return canvas.png();
}

function xOf(efficiency: number): number {
  const position = (Math.log10(efficiency) + BELOW) / (BELOW + ABOVE);
  return PLOT_LEFT + Math.max(0, Math.min(1, position)) * (PLOT_RIGHT - PLOT_LEFT);
}
