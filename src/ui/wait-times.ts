// Wait-time percentiles per pool from /metrics: the daemon's `sandfleet_task_wait_seconds`
// histogram (submission to start), read from Prometheus's text format and estimated from its
// buckets as Prometheus's histogram_quantile does. The figures are the serving daemon's, since it
// started: other daemons of the cluster count their own.

export const WAIT_HISTOGRAM = 'sandfleet_task_wait_seconds';

export interface Bucket {
  /** Upper bound in seconds (Infinity for +Inf). */
  le: number;
  /** Observations at or below it (cumulative). */
  count: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labels(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [, name, value] of text.matchAll(LABEL)) {
    if (name !== undefined && value !== undefined) found.set(name, value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
  }
  return found;
}

/** The buckets of one histogram, by the value of one of its labels, each sorted by bound. */
export function histogramBuckets(exposition: string, histogram: string, by: string): Map<string, Bucket[]> {
  const series = new Map<string, Bucket[]>();
  for (const line of exposition.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (!match || match[1] !== `${histogram}_bucket`) continue;
    const found = labels(match[2] ?? '');
    const key = found.get(by);
    const le = found.get('le');
    const count = Number(match[3]);
    if (key === undefined || le === undefined || !Number.isFinite(count)) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    if (Number.isNaN(bound)) continue;
    const buckets = series.get(key) ?? [];
    buckets.push({ le: bound, count });
    series.set(key, buckets);
  }
  for (const buckets of series.values()) buckets.sort((a, b) => a.le - b.le);
  return series;
}

/**
 * The q-quantile (0 < q < 1) estimated by linear interpolation within its bucket, the lowest
 * bucket starting at 0; in the +Inf bucket, the highest finite bound. Null with no observations.
 */
export function quantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lower;
      const inBucket = bucket.count - below;
      return inBucket === 0 ? bucket.le : lower + (bucket.le - lower) * ((rank - below) / inBucket);
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}

export interface WaitTimes {
  p50: number | null;
  p95: number | null;
  count: number;
}

/** Each pool's median and 95th percentile wait, from a /metrics exposition. */
export function waitTimesByPool(exposition: string): Map<string, WaitTimes> {
  const result = new Map<string, WaitTimes>();
  for (const [pool, buckets] of histogramBuckets(exposition, WAIT_HISTOGRAM, 'pool')) {
    result.set(pool, { p50: quantile(0.5, buckets), p95: quantile(0.95, buckets), count: buckets.at(-1)?.count ?? 0 });
  }
  return result;
}
