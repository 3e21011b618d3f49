// The daemon's pino output, captured whole at debug level: JSON lines that carry task, machine
// and pool ids, and never a bearer token (valid, invalid or freshly minted) or the database
// password, whatever path a request takes.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/logger.js';
import { databaseUrlFromEnv, dropDatabase } from '../../src/db/index.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { until } from '../support/until.js';
import { ROOT } from './process.js';

const name = `sf_test_logging_${randomBytes(4).toString('hex')}`;
// Trust authentication ignores the password, so the daemon runs with one it must never print.
const PASSWORD = `CanaryPassword${randomBytes(6).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
url.username = url.username || 'postgres';
url.password = PASSWORD;
afterAll(() => dropDatabase(url.toString(), name), 30_000);

describe('daemon logs', () => {
  it('carry task, machine and pool ids and no credential', async () => {
    const example = readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8').replace('level: info', 'level: debug').replaceAll(/bootDelayMs: \d+/g, 'bootDelayMs: 50');
    const config = parseConfig(example, 'example', { DATABASE_URL: url.toString(), SANDFLEET_PORT: '0' });
    const lines: string[] = [];
    const log = createLogger(config.log.level, { cluster: config.cluster }, { write: (line: string) => void lines.push(line) });
    const daemon = await startDaemon(config, log);
    const base = `http://127.0.0.1:${daemon.port}`;
    const secrets = [PASSWORD];
    try {
      const admin = (await createToken(daemon.database.db, { name: 'logging-admin', role: 'admin' })).token;
      secrets.push(admin);
      const call = async (method: string, route: string, token: string, body?: unknown) => {
        const response = await fetch(`${base}${route}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, json: (await response.json()) as any };
      };
      const minted = await call('POST', '/v1/tokens', admin, { name: 'minted', role: 'submitter' });
      expect(minted.status).toBe(201);
      secrets.push(minted.json.token);
      const invalid = `sf_${randomBytes(16).toString('hex')}`;
      secrets.push(invalid);
      expect((await call('GET', '/v1/tasks', invalid)).status).toBe(401);
      expect((await call('POST', '/v1/tokens', minted.json.token, { name: 'x', role: 'admin' })).status).toBe(403);
      expect((await call('POST', '/v1/tasks', minted.json.token, { pool: 'linux-sandbox', bogus: 1 })).status).toBe(400);
      expect((await call('GET', '/v1/nowhere', admin)).status).toBe(404);
      const task = await call('POST', '/v1/tasks', minted.json.token, { pool: 'linux-sandbox', payload: { sim: { durationMs: 50 } } });
      expect(task.status).toBe(201);
      const deadline = Date.now() + 60_000;
      let state = task.json.state as string;
      while (state !== 'completed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        state = (await call('GET', `/v1/tasks/${task.json.id}`, admin)).json.state;
      }
      expect(state).toBe('completed');
      const machineId = (await call('GET', `/v1/tasks/${task.json.id}`, admin)).json.machine_id as string;

      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const finished = entries.find((e) => e.msg === 'task finished' && e.task_id === task.json.id);
      expect(finished).toMatchObject({ task_id: task.json.id, machine_id: machineId, pool: 'linux-sandbox', outcome: 'completed' });
      expect(entries.some((e) => e.machine_id === machineId && e.op === 'provision')).toBe(true);
      expect(entries.find((e) => e.msg === 'starting')).toHaveProperty('database');
    } finally {
      await daemon.stop();
    }
    expect(lines.length).toBeGreaterThan(5);
    const all = lines.join('');
    for (const secret of secrets) expect(all).not.toContain(secret);
  }, 120_000);
});

describe('the logger', () => {
  it('censors authorization headers, tokens and passwords wherever a caller puts them', () => {
    const lines: string[] = [];
    const log = createLogger('info', {}, { write: (line: string) => void lines.push(line) });
    const secret = `sf_${randomBytes(16).toString('hex')}`;
    log.info({ req: { headers: { authorization: `Bearer ${secret}` } } }, 'a request');
    log.info({ headers: { authorization: `Bearer ${secret}` } }, 'bare headers');
    log.info({ token: secret, created: { token: secret }, password: secret, db: { password: secret } }, 'fields');
    expect(lines).toHaveLength(3);
    expect(lines.join('')).not.toContain(secret);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('hold a bounded buffer when stdout is not read: lines are dropped and counted, the heap does not grow', async () => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'test/support/log-flood.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // Nobody reads the child's stdout: its pipe fills after 64 KiB.
    child.stdout.pause();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await until(() => Promise.resolve(/heap \d+/.test(stderr)), 60_000);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/log line\(s\) dropped so far: stdout is not read as fast as the daemon writes it/);
    const heap = Number(/heap (\d+)/.exec(stderr)?.[1]);
    // 200 MB were logged; the buffer holds at most 16 MiB of them.
    expect(heap).toBeLessThan(80 * 1024 * 1024);
  });
});
