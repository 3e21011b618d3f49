// SIGTERM during a run of 200 tasks: the daemon stops taking work, answers /readyz 503 while it
// lets running tasks finish up to its shutdown grace (a submission meanwhile is still accepted),
// and exits 0 within that deadline; after a restart every task ends.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, openDatabase } from '../../src/db/index.js';
import { freePort, ROOT, runCli, startDaemonProcess, waitReady } from './process.js';

const name = `sf_test_shutdown_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
const GRACE_S = 6;
afterAll(() => dropDatabase(url.toString(), name), 30_000);

describe('SIGTERM during a run', () => {
  it('drains within the grace (readiness 503, submissions accepted), exits 0, and every task ends after a restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-'));
    const config = path.join(dir, 'sandfleet.yaml');
    const example = readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8');
    writeFileSync(config, example.replace('shutdown_grace_s: 20', `shutdown_grace_s: ${GRACE_S}`).replaceAll('bootDelayMs: 1500', 'bootDelayMs: 100').replaceAll('bootDelayMs: 3000', 'bootDelayMs: 100'));
    const port = await freePort();
    const env = { DATABASE_URL: url.toString(), SANDFLEET_PORT: String(port), SANDFLEET_LOG_LEVEL: 'warn', SANDFLEET_CONFIG: config };
    const first = startDaemonProcess([], env);
    await waitReady(port, 120_000, first.output);
    const token = JSON.parse((await runCli(['tokens', 'create', '--role', 'submitter', '--json'], env)).stdout).token as string;
    const submit = async (body: object) => {
      const response = await fetch(`http://127.0.0.1:${port}/v1/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { id: string }).id;
    };
    const ids: string[] = [];
    for (let i = 1; i < 200; i++) ids.push(await submit({ pool: i % 2 ? 'linux-sandbox' : 'windows-reimage', payload: { sim: { durationMs: 200 + (i % 5) * 300 } } }));
    // Most urgent, so it runs next: a task that outlasts the grace, so the drain surely lasts the
    // whole grace (even on a loaded machine) and the task is handed back and finished after restart.
    const long = await submit({ pool: 'linux-sandbox', priority: 100, payload: { sim: { durationMs: 20_000 } } });
    ids.push(long);
    const database = openDatabase({ url: url.toString(), max: 2 });
    try {
      const count = async (states: string[], of = ids) =>
        Number((await database.pool.query('SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1::uuid[]) AND state = ANY($2::text[])', [of, states])).rows[0].n);
      const started = Date.now();
      while ((await count(['running'], [long])) === 0) {
        expect(await count(['queued', 'assigned', 'running'], [long]), 'the long task ended before it was seen running').toBe(1);
        expect(Date.now() - started, first.output().slice(-2000)).toBeLessThan(60_000);
        await new Promise((r) => setTimeout(r, 50));
      }
      const signaled = Date.now();
      first.child.kill('SIGTERM');
      // While the drain lasts, readiness says draining and submissions still land.
      let readiness: { status: number; body: any } = { status: 0, body: null };
      while (readiness.status !== 503) {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`);
        readiness = { status: response.status, body: await response.json() };
      }
      expect(readiness.body.checks.shutdown).toBe('draining');
      ids.push(await submit({ pool: 'linux-sandbox', payload: { during: 'drain' } }));
      expect(await first.exited).toBe(0);
      // Exit within the drain deadline (plus the time to close connections and the process).
      expect(Date.now() - signaled).toBeLessThan((GRACE_S + 10) * 1000);
      expect(await count(['completed', 'failed', 'timed_out', 'canceled'])).toBeLessThan(201);

      const second = startDaemonProcess([], env);
      try {
        await waitReady(port, 120_000, second.output);
        const deadline = Date.now() + 120_000;
        while ((await count(['completed'])) < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
        expect(await count(['completed'])).toBe(201);
      } finally {
        second.child.kill('SIGTERM');
        expect(await second.exited).toBe(0);
      }
    } finally {
      await database.close();
    }
  }, 400_000);
});
