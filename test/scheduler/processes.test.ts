// Three scheduler processes share the work; one is SIGKILLed mid-run. Nothing is lost: every
// task still ends (its lease taken over through BullMQ's stall detection or the reconciler),
// nothing passes its deadline, no machine is ever leased to two tasks, and no pool passes
// max_size.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { checkInvariants, createQueueForTests } from './process-support.js';
import { addPool } from '../support/fixtures.js';
import { QUEUE_BACKENDS } from '../support/backends.js';
import { useTestDatabase } from '../support/database.js';
import { submit } from '../../src/scheduler/submission.js';

const t = useTestDatabase('processes', 16, { queue: true });
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function startWorker(name: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'worker-process.ts')], {
    env: { ...process.env, ...env, WORKER_NAME: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited early with ${code}`)));
  });
}

const rows = async (query: ReturnType<typeof sql>) => (await t.db.execute(query)).rows;

describe.each(QUEUE_BACKENDS)('three processes, one killed, on %s', (_, backend) => {
  it('ends every task with nothing lost, stuck or leased twice', async () => {
    const run = randomUUID().slice(0, 6);
    const b = backend();
    const env = {
      DATABASE_URL: t.url,
      QUEUE_BACKEND: b.kind,
      REDIS_URL: b.kind === 'redis' ? b.url : '',
      REDIS_PREFIX: b.kind === 'redis' ? (b.prefix ?? '') : '',
      CLUSTER: `proc-${run}`,
      NAMESPACE: `n${run}`,
    };
    const pools = [
      await addPool(t.db, { name: `p1-${run}`, maxSize: 6, minReady: 1, recycle: 'reimage', idleTimeoutS: 0, settings: { bootDelayMs: 30, stopDelayMs: 5, terminateDelayMs: 5 } }),
      await addPool(t.db, { name: `p2-${run}`, maxSize: 6, minReady: 0, maxUses: 1, idleTimeoutS: 0, settings: { bootDelayMs: 30, stopDelayMs: 5, terminateDelayMs: 5 } }),
    ];
    const names = pools.map((p) => p.name);
    const workers = await Promise.all(['a', 'b', 'c'].map((n) => startWorker(n, env)));
    const queue = createQueueForTests(t, b, env.NAMESPACE);
    let maxSize = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const r of await rows(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY pool`)) maxSize = Math.max(maxSize, Number(r.n));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      for (let i = 0; i < 300; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => submit(t.db, queue, { pool: names[(i + j) % 2], payload: {}, timeoutS: 60, maxAttempts: 5 })));
      }
      const ended = async () => Number((await rows(sql`SELECT count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) AND state IN ('completed', 'failed', 'timed_out', 'canceled')`))[0]?.n);
      const waitFor = async (n: number, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while ((await ended()) < n) {
          if (Date.now() > deadline) throw new Error(`only ${await ended()} of ${n} tasks ended: ${JSON.stringify(await rows(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY state`))}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor(80, 60_000);
      const runningInB = async () =>
        (await rows(sql`
          SELECT t.id FROM tasks t JOIN events e ON e.entity_id = t.id AND e.to_state = 'running' AND e.actor = 'worker-b'
          WHERE t.pool = ANY(${sql.param(names)}::text[]) AND t.state = 'running'`)).map((r) => String(r.id));
      // Kill it while it is running tasks: no goodbye, no cleanup.
      for (let i = 0; i < 600 && (await runningInB()).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      workers[1]!.kill('SIGKILL');
      const orphaned = await runningInB();
      // The kill did hit work in flight, which the other processes must take over.
      expect(orphaned.length).toBeGreaterThan(0);
      await waitFor(300, 120_000);
      const taken = await rows(sql`SELECT state, count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(orphaned)}::uuid[]) GROUP BY state`);
      expect(taken).toEqual([{ state: 'completed', n: orphaned.length }]);
      const states = Object.fromEntries((await rows(sql`SELECT state, count(*)::int AS n FROM tasks WHERE pool = ANY(${sql.param(names)}::text[]) GROUP BY state`)).map((r) => [String(r.state), Number(r.n)]));
      expect(states).toEqual({ completed: 300 });
      for (const p of pools) expect(await checkInvariants(t.db, { pool: p.name })).toEqual([]);
      expect(maxSize).toBeLessThanOrEqual(6);
    } finally {
      sampling = false;
      await sampler;
      await queue.close();
      for (const w of workers) w.kill('SIGKILL');
    }
  });
});
