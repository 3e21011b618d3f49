// What every measurement hands back: a named figure, and for the sandfleet figures the limit
// (a figure of section (a)) it is compared against.

export type Unit = 'tx/s' | 'jobs/s' | 'tasks/s' | 'ms' | 'MiB';

export interface Figure {
  /** Stable id, e.g. `e2e.postgres.reused`; limits are referred to by it. */
  key: string;
  /** What was measured, in words. */
  label: string;
  value: number;
  unit: Unit;
  /** Throughput is better higher; latency and memory lower. Decides how the ratio reads. */
  better: 'higher' | 'lower';
  /** The key of the limit this figure is compared against; absent for the limits themselves. */
  limit?: string;
  /** How it was measured (counts, durations), for the report. */
  detail?: string;
}

/** value / limit value: a fraction of the limit for throughput, a multiple of it for latency and memory. */
export function ratioOf(figure: Figure, limit: Figure | undefined): number | null {
  if (!limit || limit.value <= 0 || !Number.isFinite(figure.value)) return null;
  return figure.value / limit.value;
}

/** How close to its limit a figure is, 1 being at the limit: the ratio, inverted where lower is better. */
export function efficiencyOf(figure: Figure, limit: Figure | undefined): number | null {
  const ratio = ratioOf(figure, limit);
  if (ratio === null || ratio <= 0) return null;
  return figure.better === 'higher' ? ratio : 1 / ratio;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** One measurement of the run: failures are reported per step, the others still run. */
export interface Step {
  section: 'a' | 'b' | 'c' | 'd';
  title: string;
  run: () => Promise<Figure[]>;
}
