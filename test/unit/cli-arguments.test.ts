// The CLI's argument parsers: a good value parses, a bad one is refused with a message that says
// what was expected (commander prints it and exits 2).
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { idPrefix, integer, seconds, shard } from '../../src/cli/commands/arguments.js';
import { idRange } from '../../src/machinery/index.js';

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

  it('idPrefix: 8 or more hex digits of a UUID, with its dashes or none', () => {
    expect(idPrefix('3F2A1B9C')).toBe('3f2a1b9c');
    expect(idPrefix('3f2a1b9c-12')).toBe('3f2a1b9c-12');
    expect(idPrefix('3f2a1b9c12ab')).toBe('3f2a1b9c12ab');
    expect(idPrefix('3f2a1b9c-12ab-4cde-8f01-23456789abcd')).toBe('3f2a1b9c-12ab-4cde-8f01-23456789abcd');
    for (const short of ['3f2a1b9', '3f2a-1b9c', '']) expect(() => idPrefix(short), short).toThrow(/at least 8 hex digits|must be a UUID or its first characters/);
    for (const bad of ['3f2a1b9g', '3f2a1b9c-1-', '3f2a1b9c12ab4cde8f0123456789abcdef', '3f2a1b9c-12ab-4cde-8f01-23456789abcd0']) expect(() => idPrefix(bad), bad).toThrow('must be a UUID or its first characters');
  });

  it('idRange: the lowest and highest UUID a prefix starts', () => {
    expect(idRange('3f2a1b9c12')).toEqual({ low: '3f2a1b9c-1200-0000-0000-000000000000', high: '3f2a1b9c-12ff-ffff-ffff-ffffffffffff' });
  });

  it('seconds: fractions within bounds', () => {
    const parse = seconds(0.2, 3600);
    expect(parse('0.5')).toBe(0.5);
    expect(parse('2')).toBe(2);
    for (const bad of ['0.1', '3601', '-1', 'two', '1e2', '']) expect(() => parse(bad), bad).toThrow('must be a number of seconds from 0.2 to 3600');
  });
});
