// Text PostgreSQL cannot store, found wherever it hides in a JSON value.
import { describe, expect, it } from 'vitest';
import { findUnstorable, isStorable, MAX_JSON_DEPTH, TOO_DEEP_MESSAGE, UNSTORABLE_MESSAGE } from '../../src/db/storable.js';

const unstorablePath = (value: unknown) => findUnstorable(value)?.path ?? null;

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
    expect(unstorablePath([{ a: 'x\u0000' }, { ['\ud800']: 1 }])).toEqual([0, 'a']);
    expect(findUnstorable({ a: '\ud800' })?.message).toBe(UNSTORABLE_MESSAGE);
  });

  // The fuzzer's find: a payload nested 100,000 deep overflowed the recursive walk (500), and a
  // few thousand levels overflow JSON.stringify when the row is written or read back.
  it('refuses nesting past the limit, at any depth, naming where it starts', () => {
    const nest = (depth: number): unknown => {
      let value: unknown = 'leaf';
      for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
      return value;
    };
    expect(findUnstorable(nest(MAX_JSON_DEPTH))).toBeNull();
    const tooDeep = findUnstorable(nest(MAX_JSON_DEPTH + 1));
    expect(tooDeep?.message).toBe(TOO_DEEP_MESSAGE);
    expect(tooDeep?.path).toHaveLength(MAX_JSON_DEPTH);
    expect(findUnstorable(nest(200_000))?.message).toBe(TOO_DEEP_MESSAGE);
    expect(findUnstorable(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)))?.message).toBe(TOO_DEEP_MESSAGE);
  });
});
