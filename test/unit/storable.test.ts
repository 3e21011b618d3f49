// Text PostgreSQL cannot store, found wherever it hides in a JSON value.
import { describe, expect, it } from 'vitest';
import { isStorable, unstorablePath } from '../../src/db/storable.js';

describe('storable text', () => {
  it('refuses NUL and lone or reversed surrogates, and takes paired ones and ordinary text', () => {
    for (const bad of ['a\u0000b', '\ud800', 'x\udc00', '\udc00\ud800', 'ok\ud83d']) expect(isStorable(bad), JSON.stringify(bad)).toBe(false);
    for (const good of ['', 'plain', 'emoji \ud83d\ude00', 'ünïcödé', '\\u0000 spelled out']) expect(isStorable(good), JSON.stringify(good)).toBe(true);
  });

  it('names the path of the first unstorable string or key, indexes as numbers', () => {
    expect(unstorablePath({ a: [1, 'ok', { b: 'x\u0000' }] })).toEqual(['a', 2, 'b']);
    expect(unstorablePath({ ['k\ud800']: 1 })).toEqual(['k\ud800']);
    expect(unstorablePath('\udc00')).toEqual([]);
    expect(unstorablePath({ a: [1, true, null, 'fine', { b: 'also fine' }] })).toBeNull();
  });
});
