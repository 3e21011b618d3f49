// The queue backends the benchmarks run on; each use gets its own Redis key prefix, so runs
// (and other people's tests on the same Redis) never see each other's jobs, and its keys are
// removed afterwards.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { QueueBackend } from '../../src/scheduler/queue.js';
import type { BackendName } from './options.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function benchBackend(name: BackendName): QueueBackend {
  return name === 'postgres' ? { kind: 'postgres' } : { kind: 'redis', url: REDIS_URL, prefix: `sfbench-${randomBytes(4).toString('hex')}` };
}

/** A queue name no other run shares (the namespace of createQueue/createWorker). */
export function benchNamespace(): string {
  return `bench${randomBytes(4).toString('hex')}`;
}

/** Deletes a Redis backend's keys (its prefix is this run's alone); nothing to do for PostgreSQL. */
export async function removeQueueKeys(backend: QueueBackend): Promise<void> {
  if (backend.kind !== 'redis' || !backend.prefix) return;
  const redis = new Redis(backend.url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${backend.prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
