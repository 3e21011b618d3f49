// Submission on both queue backends: pool choice, idempotency, refusal at the door.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getTask, submitTask } from '../../src/machinery/index.js';
import { createQueue, RUN_QUEUE, runJobId, type RunJob } from '../../src/scheduler/queue.js';
import { IdempotencyConflict, submit, Unserviceable } from '../../src/scheduler/submission.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, readyMachines } from '../support/fixtures.js';

const t = useTestDatabase('submission', 8, { queue: true });

describe.each(QUEUE_BACKENDS)('submission on %s', (_, backend) => {
  let queue: Queue<RunJob>;
  let linux: string;
  let windows: string;
  // Each backend's run has its own pools; a run tag keeps the selectors to them.
  const run = `run-${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    queue = createQueue<RunJob>(RUN_QUEUE, { database: t, backend: backend(), namespace: `s${randomUUID().slice(0, 8)}` });
    linux = (await addPool(t.db, { platform: 'linux', tags: ['x86', run], maxSize: 4 })).name;
    windows = (await addPool(t.db, { platform: 'windows', tags: ['office', 'x86', run], maxSize: 8 })).name;
  });
  afterAll(async () => {
    await queue?.close();
  });
  const countTasks = async () => Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks`)).rows[0]?.n);

  it('writes the task, queued while its pool has no ready machine, with no job', async () => {
    const { task, created } = await submit(t.db, queue, { pool: linux, payload: { sample: 'a' }, priority: 70 });
    expect(created).toBe(true);
    expect(task).toMatchObject({ pool: linux, state: 'queued', priority: 70 });
    expect(await queue.getJob(runJobId(task.id, 1))).toBeUndefined();
  });

  it('leases a ready machine in the submission itself and queues the lease\'s run job', async () => {
    const pool = (await addPool(t.db, { maxSize: 2 })).name;
    const [machine] = await readyMachines(t.db, pool, 1);
    const { task } = await submit(t.db, queue, { pool, payload: { sample: 'e' } });
    expect(task).toMatchObject({ state: 'assigned', machineId: machine!.id, attempts: 1 });
    expect((await queue.getJob(runJobId(task.id, 1)))?.data).toEqual({ taskId: task.id, machineId: machine!.id, pool, machine: { name: machine!.name, ip: machine!.ip } });
    // The next one waits: the only other capacity is not ready.
    expect((await submit(t.db, queue, { pool, payload: { sample: 'f' } })).task.state).toBe('queued');
  });

  it('returns the same task for a replayed key and request, and refuses the key with another body', async () => {
    const key = `k-${randomUUID()}`;
    const first = await submit(t.db, queue, { pool: linux, payload: { sample: 'b' } }, { idempotencyKey: key });
    const replay = await submit(t.db, queue, { payload: { sample: 'b' }, pool: linux }, { idempotencyKey: key });
    expect(replay).toMatchObject({ created: false, task: { id: first.task.id } });
    const before = await countTasks();
    await expect(submit(t.db, queue, { pool: linux, payload: { sample: 'c' } }, { idempotencyKey: key })).rejects.toBeInstanceOf(IdempotencyConflict);
    expect(await countTasks()).toBe(before);
  });

  it('picks a pool by platform and tags, and refuses what no pool serves without writing anything', async () => {
    expect((await submit(t.db, queue, { platform: 'windows', tags: ['office', run], payload: {} })).task.pool).toBe(windows);
    expect((await submit(t.db, queue, { tags: ['x86', run], payload: {} })).task.pool).toBe(windows);
    expect((await submit(t.db, queue, { platform: 'linux', tags: [run], payload: {} })).task.pool).toBe(linux);
    const before = await countTasks();
    await expect(submit(t.db, queue, { platform: 'linux', tags: ['office', run], payload: {} })).rejects.toThrow(/no active pool serves platform linux with tags \[office, run-/);
    await expect(submit(t.db, queue, { pool: 'nope', payload: {} })).rejects.toBeInstanceOf(Unserviceable);
    await expect(submit(t.db, queue, { pool: linux, platform: 'windows', payload: {} })).rejects.toThrow(/does not match/);
    expect(await countTasks()).toBe(before);
  });

  it('offers a retried submission whose first attempt died after the insert the pool\'s ready machines again', async () => {
    const key = `k-${randomUUID()}`;
    const pool = (await addPool(t.db, { maxSize: 2 })).name;
    const request = { pool, payload: { sample: 'd' } };
    // The first attempt wrote the row and died before enqueueing.
    const { hashRequest } = await import('../../src/scheduler/submission.js');
    const orphan = await submitTask(t.db, { pool, payload: request.payload, idempotencyKey: key, requestHash: hashRequest(request), maxAttempts: 3, timeoutS: 3600, priority: 50, tags: [] }, { actor: 'api' });
    const [machine] = await readyMachines(t.db, pool, 1);
    const retried = await submit(t.db, queue, request, { idempotencyKey: key });
    expect(retried).toMatchObject({ created: false, task: { id: orphan.task.id, state: 'assigned', machineId: machine!.id } });
    expect(await queue.getJob(runJobId(orphan.task.id, 1))).toBeDefined();
    expect((await getTask(t.db, orphan.task.id))?.state).toBe('assigned');
  });
});
