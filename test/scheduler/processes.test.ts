// Three scheduler processes share 1,000 tasks across the three pools of the load test (5 %
// scripted runner failures); one is SIGKILLed mid-run. Nothing is lost: every task still ends as
// its runner said (a lease the dead process held is taken over through BullMQ's stall detection
// or the reconciler), nothing passes its deadline, no machine is ever leased to two tasks at once,
// and no pool passes max_size at any sampled moment.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { checkInvariants, createQueueForTests } from './process-support.js';
import { addThreePools, sampleSizes, scriptedFailures, tasksByState } from '../support/workload.js';
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

const TASKS = 1000;
const DEADLINE_GRACE_S = 30;

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
      DEADLINE_GRACE_S: String(DEADLINE_GRACE_S),
    };
    const pools = await addThreePools(t.db, run, { kind: 'sim', minDurationMs: 10, maxDurationMs: 150 });
    const names = pools.map((p) => p.name);
    const workers = await Promise.all(['a', 'b', 'c'].map((n) => startWorker(n, env)));
    const queue = createQueueForTests(t, b, env.NAMESPACE);
    const sampler = sampleSizes(t.db, names);
    try {
      const failing = scriptedFailures(TASKS, 7);
      for (let i = 0; i < TASKS; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            submit(t.db, queue, { pool: names[(i + j) % 3], payload: { sim: { failRate: failing.has(i + j) ? 1 : 0 } }, timeoutS: 60, maxAttempts: 5 }),
          ),
        );
      }
      const ended = async () => {
        const s = await tasksByState(t.db, names);
        return (s.completed ?? 0) + (s.failed ?? 0) + (s.timed_out ?? 0) + (s.canceled ?? 0);
      };
      const waitFor = async (n: number, timeoutMs: number) => {
        const deadline = Date.now() + timeoutMs;
        while ((await ended()) < n) {
          if (Date.now() > deadline) throw new Error(`only ${await ended()} of ${n} tasks ended: ${JSON.stringify(await tasksByState(t.db, names))}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor(150, 60_000);
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
      await waitFor(TASKS, 180_000);
      const taken = await rows(sql`SELECT count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(orphaned)}::uuid[]) AND state IN ('completed', 'failed')`);
      expect(Number(taken[0]?.n)).toBe(orphaned.length);
      expect(await tasksByState(t.db, names)).toEqual({ completed: TASKS - TASKS / 20, failed: TASKS / 20 });
      // Nothing stuck past its deadline: every attempt ended within its timeout plus the watchdog's grace.
      const late = await rows(sql`
        SELECT id FROM tasks WHERE pool = ANY(${sql.param(names)}::text[])
        AND finished_at > started_at + (timeout_s + ${DEADLINE_GRACE_S}) * interval '1 second'`);
      expect(late).toEqual([]);
      // Never leased twice: in every machine's log, a lease is always followed by a release before the next lease.
      const doubleLeases = await rows(sql`
        SELECT entity_id FROM (
          SELECT entity_id, to_state, lag(to_state) OVER (PARTITION BY entity_id ORDER BY id) AS prev
          FROM events WHERE entity = 'machine' AND pool = ANY(${sql.param(names)}::text[]) AND to_state IN ('leased', 'released')
        ) x WHERE to_state = 'leased' AND prev = 'leased'`);
      expect(doubleLeases).toEqual([]);
      for (const p of pools) expect(await checkInvariants(t.db, { pool: p.name })).toEqual([]);
      const maxSeen = await sampler.stop();
      for (const p of pools) expect(maxSeen.get(p.name)).toBeLessThanOrEqual(p.maxSize);
    } finally {
      await sampler.stop();
      await queue.close();
      for (const w of workers) w.kill('SIGKILL');
    }
  });
});
