// Argument parsers: a bad value is bad usage (exit 2) with a message naming what was expected.
import { InvalidArgumentError } from 'commander';
import { idPrefixDigits } from '../../machinery/index.js';

/** An operation that ran and failed (exit 1), as opposed to bad usage (exit 2). */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

export function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
    return value as T;
  };
}

/** `i/n`: shard i (0-based) of n. */
export function shard(value: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) throw new InvalidArgumentError('must be i/n with 0 ≤ i < n, for example 0/4');
  return { index, count };
}

/** A UUID or its first characters (at least 8 hex digits); the command resolves it to the one id it starts. */
export function idPrefix(value: string): string {
  const parsed = idPrefixDigits(value);
  if ('problem' in parsed) throw new InvalidArgumentError(parsed.problem);
  return value.trim().toLowerCase();
}

/** Seconds, fractions allowed, within bounds. */
export function seconds(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}`);
    return n;
  };
}
