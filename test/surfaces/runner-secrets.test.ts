// A command that hunts for the daemon's secrets, run by the real daemon binary and read back over
// REST: its environment holds none of them (an allowlist), and what it finds anyway, in the
// daemon's /proc/<pid>/environ, is redacted from its stored result, its error and the logs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, openDatabase } from '../../src/db/index.js';
import { freePort, ROOT, runCli, startDaemonProcess, waitReady } from './process.js';

const name = `sf_test_runner_secrets_${randomBytes(4).toString('hex')}`;
const canary = (label: string) => `${label}Canary${randomBytes(6).toString('hex')}`;
const SECRETS = { db: canary('Db'), aws: canary('Aws'), azure: canary('Azure'), github: canary('Github') };
// Trust authentication ignores the password, so the daemon runs with one no analysis may see.
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
url.username = url.username || 'postgres';
url.password = SECRETS.db;
afterAll(() => dropDatabase(url.toString(), name), 30_000);

// Prints its own environment and every canary line of its parent's (the daemon's), as the result
// or, asked to fail, on stderr.
const HUNT = `
const parent = require('fs').readFileSync('/proc/' + process.ppid + '/environ', 'utf8').split('\\0').filter((l) => l.includes('Canary'));
if (JSON.parse(process.env.SANDFLEET_TASK).payload.fail) { console.error(parent.join(' ')); process.exit(1); }
console.log(JSON.stringify({ env: process.env, parent }));`;

describe('an analysis command on the daemon host', () => {
  it('gets no secret of the daemon, and what it finds of them is stored and logged redacted', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-'));
    const config = path.join(dir, 'sandfleet.yaml');
    const example = readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8');
    const runner = `runner:\n      kind: command\n      command: ${JSON.stringify(process.execPath)}\n      args: ["-e", ${JSON.stringify(HUNT)}]\n      env_passthrough: [LC_CANARY]`;
    writeFileSync(config, example.replace(/runner:\n\s+kind: sim\n\s+min_duration_ms: 500\n\s+max_duration_ms: 3000/, runner).replaceAll(/bootDelayMs: \d+/g, 'bootDelayMs: 100'));
    const port = await freePort();
    const env = {
      DATABASE_URL: url.toString(),
      SANDFLEET_PORT: String(port),
      SANDFLEET_CONFIG: config,
      AWS_SECRET_ACCESS_KEY: SECRETS.aws,
      AZURE_CLIENT_SECRET: SECRETS.azure,
      GITHUB_TOKEN: SECRETS.github,
      LC_CANARY: 'passed-through',
    };
    const daemon = startDaemonProcess([], env);
    const database = openDatabase({ url: url.toString(), max: 2 });
    try {
      await waitReady(port, 120_000, daemon.output);
      const token = JSON.parse((await runCli(['tokens', 'create', '--role', 'submitter', '--json'], env)).stdout).token as string;
      const call = async (method: string, route: string, body?: unknown) => {
        const response = await fetch(`http://127.0.0.1:${port}${route}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await response.json()) as Record<string, any>;
      };
      const ended = async (id: string) => {
        for (const started = Date.now(); Date.now() - started < 60_000; await new Promise((r) => setTimeout(r, 100))) {
          const task = await call('GET', `/v1/tasks/${id}`);
          if (['completed', 'failed'].includes(task.state)) return task;
        }
        throw new Error(`task ${id} did not end:\n${daemon.output().slice(-2000)}`);
      };
      const found = await ended((await call('POST', '/v1/tasks', { pool: 'linux-sandbox', payload: {} })).id);
      const failed = await ended((await call('POST', '/v1/tasks', { pool: 'linux-sandbox', payload: { fail: true } })).id);

      // Its own environment: the allowlist, what the pool passes through, the task's variables.
      expect(found.state, JSON.stringify(found)).toBe('completed');
      const allowed = ['PATH', 'HOME', 'LANG', 'LC_CANARY', 'SANDFLEET_TASK_ID', 'SANDFLEET_TASK', 'SANDFLEET_MACHINE_ID', 'SANDFLEET_MACHINE_NAME', 'SANDFLEET_MACHINE_IP'];
      expect(Object.keys(found.result.env).filter((k) => !allowed.includes(k))).toEqual([]);
      expect(found.result.env.LC_CANARY).toBe('passed-through');
      // What it read of the daemon's environment reached the store redacted.
      expect(found.result.parent).toEqual(expect.arrayContaining(['AWS_SECRET_ACCESS_KEY=[redacted]', 'AZURE_CLIENT_SECRET=[redacted]', 'GITHUB_TOKEN=[redacted]']));
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/exited with 1: .*AWS_SECRET_ACCESS_KEY=\[redacted\]/);

      const stored = await database.pool.query('SELECT t.result::text AS result, t.error, (SELECT string_agg(e.reason, \' \') FROM events e WHERE e.entity_id = t.id) AS reasons FROM tasks t');
      const everywhere = [JSON.stringify(found), JSON.stringify(failed), JSON.stringify(stored.rows), daemon.output()].join('\n');
      expect(daemon.output()).toContain('[redacted]');
      for (const secret of Object.values(SECRETS)) expect(everywhere).not.toContain(secret);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
      await database.close();
    }
  }, 180_000);
});
