// A repeating warning is logged once per interval per key, with how many were held back.
import { describe, expect, it } from 'vitest';
import { ThrottledLog } from '../../src/scheduler/log.js';

describe('throttled log', () => {
  it('logs a key once per interval and counts the repeats it held back', () => {
    const lines: Record<string, unknown>[] = [];
    const log = new ThrottledLog({ info: () => {}, error: () => {}, warn: (fields) => void lines.push(fields) }, 0);
    const held = new ThrottledLog({ info: () => {}, error: () => {}, warn: (fields) => void lines.push(fields) }, 3_600_000);
    for (let i = 0; i < 5; i++) held.warn('a', { n: i }, 'queue error');
    held.warn('b', { n: 9 }, 'queue error');
    expect(lines).toEqual([{ n: 0 }, { n: 9 }]);
    lines.length = 0;
    for (let i = 0; i < 3; i++) log.warn('a', { n: i }, 'queue error');
    expect(lines).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
  });
});
