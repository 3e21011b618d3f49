// The two queue backends every scheduler test runs on. Redis tests get their own key prefix.
import { randomBytes } from 'node:crypto';
import type { QueueBackend } from '../../src/scheduler/queue.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const QUEUE_BACKENDS: [string, () => QueueBackend][] = [
  ['postgres', () => ({ kind: 'postgres' })],
  ['redis', () => ({ kind: 'redis', url: REDIS_URL, prefix: `sftest-${randomBytes(4).toString('hex')}` })],
];
