// BullMQ's PostgreSQL connection adds an 'error' listener to the pool it borrows and does not
// remove it when it closes: queues and workers made and closed on one pool (a scheduler
// restarted in one process) must not leave theirs behind (the MaxListenersExceededWarning).
import { describe, expect, it } from 'vitest';
import { createQueue, createWorker } from '../../src/scheduler/queue.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('queue_listeners', 4, { queue: true });

describe('queues and workers on the shared pool', () => {
  it('take back the pool listeners they added when they close', async () => {
    const settings = { database: t, backend: { kind: 'postgres' as const }, namespace: 'listeners' };
    const before = t.pool.listenerCount('error');
    for (let round = 0; round < 6; round++) {
      const queue = createQueue('jobs', settings);
      const worker = createWorker('jobs', settings, () => Promise.resolve(), 1);
      // Each adds its own while it is open (what the fix takes back).
      expect(t.pool.listenerCount('error')).toBe(before + 2);
      await worker.close();
      await queue.close();
      expect(t.pool.listenerCount('error')).toBe(before);
    }
  }, 60_000);
});
