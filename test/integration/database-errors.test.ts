// A failed statement leaves no bound value in what is said of it: the message (the API's and the
// CLI's), the daemon's log line, and a failed job's failedReason on both queue backends carry
// the SQL state, the constraint and the operation, never the parameters or the values the
// server quotes.
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/daemon/logger.js';
import { submitTask } from '../../src/machinery/index.js';
import { errorMessage, withoutValues } from '../../src/db/errors.js';
import { createQueue, createWorker } from '../../src/scheduler/queue.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';

const t = useTestDatabase('database_errors', 8, { queue: true });
const canary = () => `Canary${randomBytes(6).toString('hex')}`;

/** A second task given the first one's idempotency key: a unique violation whose detail quotes the key. */
async function uniqueViolation(secret: string): Promise<unknown> {
  const pool = (await addPool(t.db)).name;
  await submitTask(t.db, { pool, payload: {}, idempotencyKey: secret }, { actor: 'test' });
  const { task } = await submitTask(t.db, { pool, payload: {} }, { actor: 'test' });
  return t.db.execute(sql`UPDATE tasks SET idempotency_key = ${secret} WHERE id = ${task.id}`).then(
    () => null,
    (error: unknown) => error,
  );
}

describe('database errors', () => {
  it('say the SQL state, the constraint and the operation, never the values', async () => {
    const secret = canary();
    const error = await uniqueViolation(secret);
    // drizzle's own message lists the parameters: the reason for all this.
    expect(String((error as Error).message)).toContain(secret);
    const message = errorMessage(error);
    expect(message).toMatch(/^database error 23505 \(constraint \w+\) during UPDATE: integrity constraint violation$/);
    expect(message).not.toContain(secret);
    // A wrapper around it, as a job or a supervisor says it, is cleaned the same.
    expect(errorMessage(new Error(`pool p: ${(error as Error).message}`, { cause: error }))).not.toContain(secret);

    const bad = canary();
    const cast = await t.db.execute(sql`SELECT ${bad}::uuid`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(errorMessage(cast)).toMatch(/^database error 22P02 during SELECT: a value the column cannot hold$/);
    // Errors that are not the database's pass as they are.
    const plain = new Error('plain');
    expect(withoutValues(plain)).toBe(plain);
  });

  it('are logged without the values', async () => {
    const secret = canary();
    const error = await uniqueViolation(secret);
    const lines: string[] = [];
    const log = createLogger('info', {}, { write: (line: string) => void lines.push(line) });
    log.error({ err: error }, 'request failed');
    log.error({ err: new Error('supervision failed', { cause: error }) }, 'supervision failed');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!).err).toMatchObject({ type: 'DatabaseQueryError', code: '23505', operation: 'UPDATE', constraint: 'tasks_tenant_idempotency_key_key' });
    for (const line of lines) expect(line).not.toContain(secret);
  });

  it.each(QUEUE_BACKENDS)("leave no value in a failed job's failedReason (%s)", async (_, backend) => {
    const secret = canary();
    const settings = { database: t, backend: backend(), namespace: `e${randomUUID().slice(0, 8)}` };
    const queue = createQueue<{ secret: string }>('errors', settings);
    const worker = createWorker<{ secret: string }>('errors', settings, async (job) => void (await t.db.execute(sql`SELECT ${job.data.secret}::uuid`)), 1);
    try {
      const failed = new Promise<string>((resolve) => worker.on('failed', (job) => resolve(job?.failedReason ?? '')));
      const job = await queue.add('bad', { secret }, { attempts: 1 });
      const reason = await failed;
      expect(reason).toMatch(/^database error 22P02 during SELECT/);
      expect((await queue.getJob(job.id!))?.failedReason).toBe(reason);
      expect(reason).not.toContain(secret);
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
