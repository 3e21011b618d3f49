// A repeating warning is logged once per interval per key, with how many were held back.
import { describe, expect, it } from 'vitest';
import { ThrottledLog } from '../../src/scheduler/log.js';

describe('throttled log', () => {
  it('logs a key once per interval and says how many repeats it held back', () => {
    const lines: Record<string, unknown>[] = [];
    let now = 0;
    const log = new ThrottledLog({ info: () => {}, error: () => {}, warn: (fields) => void lines.push(fields) }, 10_000, () => now);
    for (let i = 0; i < 5; i++) log.warn('a', { n: i }, 'queue error');
    log.warn('b', { n: 9 }, 'queue error');
    expect(lines).toEqual([{ n: 0 }, { n: 9 }]);
    now = 10_000;
    log.warn('a', { n: 5 }, 'queue error');
    expect(lines.at(-1)).toEqual({ n: 5, repeats_held_back: 4 });
    now = 20_000;
    log.warn('a', { n: 6 }, 'queue error');
    expect(lines.at(-1)).toEqual({ n: 6 });
  });
});
