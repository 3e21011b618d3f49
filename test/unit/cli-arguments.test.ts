// The CLI's argument parsers: a good value parses, a bad one is refused with a message that says
// what was expected (commander prints it and exits 2).
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { integer, shard } from '../../src/cli/commands/arguments.js';

describe('CLI argument parsers', () => {
  it('shard: i/n with 0 ≤ i < n', () => {
    expect(shard('0/1')).toEqual({ index: 0, count: 1 });
    expect(shard(' 3/4 ')).toEqual({ index: 3, count: 4 });
    for (const bad of ['4/4', '1/0', '-1/2', '1', 'a/b', '1/2/3', '']) {
      expect(() => shard(bad), bad).toThrow(InvalidArgumentError);
      expect(() => shard(bad), bad).toThrow('must be i/n with 0 ≤ i < n');
    }
  });

  it('integer: within its bounds', () => {
    const parse = integer(100, 600_000);
    expect(parse('100')).toBe(100);
    for (const bad of ['99', '600001', '1.5', '1e3', 'ten']) expect(() => parse(bad), bad).toThrow('must be an integer from 100 to 600000');
  });
});
