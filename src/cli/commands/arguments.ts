// Argument parsers: a bad value is bad usage (exit 2) with a message naming what was expected.
import { InvalidArgumentError } from 'commander';

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

export function uuid(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) throw new InvalidArgumentError('must be a UUID');
  return value.toLowerCase();
}
