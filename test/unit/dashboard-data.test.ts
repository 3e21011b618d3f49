// The dashboard's reading of what the API returns: list bodies of either shape (a bare array,
// as GET /v1/machines answers today, or an {items, next_cursor} page, followed to its end), and
// wait-time percentiles from the daemon's Prometheus histogram, as histogram_quantile computes them.
import { describe, expect, it } from 'vitest';
import { itemsOf, listAll, MAX_PAGES, withQuery, type Reader } from '../../src/ui/lists.js';
import { histogramBuckets, quantile, waitTimesByPool } from '../../src/ui/wait-times.js';

/** An Api answering GETs from a table of paths, recording what was asked. */
function answering(bodies: Record<string, unknown>): Reader & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    get: <T>(path: string) => {
      asked.push(path);
      if (!(path in bodies)) return Promise.reject(new Error(`unexpected GET ${path}`));
      return Promise.resolve(bodies[path] as T);
    },
  };
}

describe('list bodies', () => {
  it('reads a page', () => {
    expect(itemsOf({ items: [3], next_cursor: 'c1' })).toEqual({ items: [3], next: 'c1' });
  });

  it('follows next_cursor to the last page, keeping the query', async () => {
    const api = answering({
      '/v1/machines?pool=a': { items: [1, 2], next_cursor: 'x_1' },
      '/v1/machines?pool=a&cursor=x_1': { items: [3], next_cursor: null },
      '/v1/pools': { items: [{ name: 'p' }], next_cursor: null },
    });
    expect(await listAll(api, '/v1/machines?pool=a')).toEqual({ items: [1, 2, 3], complete: true });
    expect(await listAll(api, '/v1/pools')).toEqual({ items: [{ name: 'p' }], complete: true });
    expect(api.asked).toEqual(['/v1/machines?pool=a', '/v1/machines?pool=a&cursor=x_1', '/v1/pools']);
  });

  it('stops after MAX_PAGES pages and says the list is partial', async () => {
    const pages: Record<string, unknown> = { '/v1/machines': { items: [0], next_cursor: 'c1' } };
    for (let i = 1; i <= MAX_PAGES; i++) pages[`/v1/machines?cursor=c${i}`] = { items: [i], next_cursor: `c${i + 1}` };
    const listed = await listAll(answering(pages), '/v1/machines');
    expect(listed.complete).toBe(false);
    expect(listed.items).toHaveLength(MAX_PAGES);
  });

  it('builds queries without the empty parameters', () => {
    expect(withQuery('/v1/tasks', { state: 'queued', pool: undefined, cursor: '' })).toBe('/v1/tasks?state=queued');
    expect(withQuery('/v1/tasks', {})).toBe('/v1/tasks');
  });
});

const EXPOSITION = `# HELP sandfleet_task_wait_seconds Submission to start
# TYPE sandfleet_task_wait_seconds histogram
sandfleet_task_wait_seconds_bucket{le="0.1",pool="quick"} 2
sandfleet_task_wait_seconds_bucket{le="0.5",pool="quick"} 6
sandfleet_task_wait_seconds_bucket{le="1",pool="quick"} 10
sandfleet_task_wait_seconds_bucket{le="+Inf",pool="quick"} 10
sandfleet_task_wait_seconds_sum{pool="quick"} 3.2
sandfleet_task_wait_seconds_count{pool="quick"} 10
sandfleet_task_wait_seconds_bucket{le="1",pool="slow \\"b\\""} 0
sandfleet_task_wait_seconds_bucket{le="+Inf",pool="slow \\"b\\""} 4
sandfleet_task_wait_seconds_bucket{le="1",pool="idle"} 0
sandfleet_task_wait_seconds_bucket{le="+Inf",pool="idle"} 0
sandfleet_task_run_seconds_bucket{le="1",pool="quick",outcome="completed"} 7
`;

describe('wait times from /metrics', () => {
  it('reads one histogram\'s buckets by pool, sorted by bound, and no other metric', () => {
    const buckets = histogramBuckets(EXPOSITION, 'sandfleet_task_wait_seconds', 'pool');
    expect([...buckets.keys()]).toEqual(['quick', 'slow "b"', 'idle']);
    expect(buckets.get('quick')).toEqual([
      { le: 0.1, count: 2 },
      { le: 0.5, count: 6 },
      { le: 1, count: 10 },
      { le: Infinity, count: 10 },
    ]);
  });

  it('interpolates within the bucket, as histogram_quantile does', () => {
    const buckets = histogramBuckets(EXPOSITION, 'sandfleet_task_wait_seconds', 'pool').get('quick')!;
    // rank 5 of 10: in (0.1, 0.5], 3 of its 4 observations up.
    expect(quantile(0.5, buckets)).toBeCloseTo(0.4);
    // rank 9.5: in (0.5, 1], 3.5 of its 4.
    expect(quantile(0.95, buckets)).toBeCloseTo(0.9375);
    // rank 1: in the first bucket, from 0.
    expect(quantile(0.1, buckets)).toBeCloseTo(0.05);
  });

  it('answers the highest finite bound past it, and nothing without observations', () => {
    const times = waitTimesByPool(EXPOSITION);
    expect(times.get('slow "b"')).toEqual({ p50: 1, p95: 1, count: 4 });
    expect(times.get('idle')).toEqual({ p50: null, p95: null, count: 0 });
    expect(times.has('nothing')).toBe(false);
  });
});
