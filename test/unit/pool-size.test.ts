// The daemon's pool size: what the queue listeners, the leader lock and the handlers need, never
// below database.pool_size, and one line saying how it was derived.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { daemonPoolDemand, planPool, SPARE_CONNECTIONS } from '../../src/daemon/pool-size.js';

const EXAMPLE = readFileSync(path.resolve(import.meta.dirname, '../../sandfleet.example.yaml'), 'utf8');

function config(change: (c: any) => void = () => {}) {
  const raw = parse(EXAMPLE);
  change(raw);
  return parseConfig(stringify(raw), 'test.yaml', { REDIS_URL: 'redis://127.0.0.1:6379' });
}

describe('planPool', () => {
  it('counts a listener and a poll per worker on PostgreSQL, the leader lock, every handler and the spare', () => {
    const plan = planPool({ configured: 20, queueBackend: 'postgres', workers: [{ queue: 'tasks', concurrency: 4 }, { queue: 'runs', concurrency: 32 }, { queue: 'machines', concurrency: 16 }] });
    expect(plan).toMatchObject({ listeners: 3, leaderLock: 1, leaseListener: 0, handlers: 52, queuePolls: 3, spare: SPARE_CONNECTIONS, needed: 63, size: 63, configured: 20 });
    expect(plan.summary).toBe(
      'database pool: 63 connections (3 queue listeners + 1 leader lock + 52 handlers (tasks 4, runs 32, machines 16) + 3 queue polls + 4 spare = 63 needed; database.pool_size 20 raised to that)',
    );
  });

  it('takes the number of workers as it comes (a process without the task queue holds one listener less)', () => {
    const plan = planPool({ configured: 1, queueBackend: 'postgres', workers: [{ queue: 'runs', concurrency: 8 }, { queue: 'machines', concurrency: 4 }] });
    expect(plan).toMatchObject({ listeners: 2, queuePolls: 2, handlers: 12, needed: 2 + 1 + 12 + 2 + SPARE_CONNECTIONS });
  });

  it('keeps no connections for the queues on Redis', () => {
    const plan = planPool({ configured: 10, queueBackend: 'redis', workers: [{ queue: 'runs', concurrency: 32 }, { queue: 'machines', concurrency: 16 }] });
    expect(plan).toMatchObject({ listeners: 0, queuePolls: 0, needed: 1 + 48 + SPARE_CONNECTIONS, size: 53 });
    expect(plan.summary).toBe('database pool: 53 connections (1 leader lock + 48 handlers (runs 32, machines 16) + 4 spare = 53 needed, queues on Redis; database.pool_size 10 raised to that)');
  });

  it('keeps a configured size that covers the need', () => {
    const plan = planPool({ configured: 120, queueBackend: 'postgres', workers: [{ queue: 'runs', concurrency: 32 }] });
    expect(plan).toMatchObject({ size: 120, needed: 1 + 1 + 32 + 1 + SPARE_CONNECTIONS });
    expect(plan.summary).toMatch(/^database pool: 120 connections \(.* = 39 needed; database\.pool_size 120 covers them\)$/);
  });
});

describe('daemonPoolDemand', () => {
  it('reads the backend, the configured size and the concurrency of the two workers from the config', () => {
    const demand = daemonPoolDemand(config((c) => ((c.scheduler.run_concurrency = 10), (c.scheduler.machine_concurrency = 5), (c.database.pool_size = 7))));
    expect(demand).toEqual({
      configured: 7,
      queueBackend: 'postgres',
      leaseListener: false,
      workers: [
        { queue: 'runs', concurrency: 10 },
        { queue: 'machines', concurrency: 5 },
      ],
    });
    expect(daemonPoolDemand(config((c) => (c.queue.backend = 'redis'))).queueBackend).toBe('redis');
    // An agent pool adds the connection that listens for lease announcements.
    const agents = daemonPoolDemand(config((c) => (c.pools[0]!.runner = { kind: 'agent' })));
    expect(agents.leaseListener).toBe(true);
    expect(planPool(agents).summary).toMatch(/1 leader lock \+ 1 lease listener \+/);
  });

  it('sizes the example config above its pool_size of 20', () => {
    // 2 listeners + 1 lock + 48 handlers + 2 polls + 4 spare.
    expect(planPool(daemonPoolDemand(config())).size).toBe(57);
  });
});
