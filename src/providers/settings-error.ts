import type { z } from 'zod';
import { fatal, type ProviderError } from './errors.js';

/** Turns a settings validation failure into a Fatal error naming each offending field. */
export function invalidSettings(pool: string, issues: z.core.$ZodIssue[]): ProviderError {
  const lines = issues.map((i) => `pools.${pool}.settings${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
  return fatal(`invalid provider settings:\n  ${lines.join('\n  ')}`, { code: 'InvalidSettings' });
}
