// The compiled bundle `npm start` runs: built in a copy of the project whose node_modules lacks
// tsx, `bin/sandfleet.js` must run the bundle while it is fresh (tsx is absent, so only the
// bundle can answer), find the migrations from inside it, and refuse a stale one (falling back to
// tsx, which this copy cannot load: the source is never silently out of date).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, openDatabase } from '../../src/db/index.js';
import { ROOT } from './process.js';

let copy = '';
const name = `sf_test_bundle_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;

function sandfleet(...args: string[]) {
  return spawnSync(process.execPath, [path.join(copy, 'bin/sandfleet.js'), ...args], { cwd: copy, env: { ...process.env, DATABASE_URL: url.toString() }, encoding: 'utf8', timeout: 60_000 });
}

beforeAll(() => {
  copy = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-bundle-'));
  for (const part of ['bin', 'src', 'migrations', 'package.json']) cpSync(path.join(ROOT, part), path.join(copy, part), { recursive: true });
  mkdirSync(path.join(copy, 'node_modules'));
  for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry !== 'tsx' && entry !== '.bin') symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(copy, 'node_modules', entry));
  }
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: copy, encoding: 'utf8', env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } });
  expect(built.status, built.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  rmSync(copy, { recursive: true, force: true });
  await dropDatabase(url.toString(), name);
});

describe('the compiled bundle', () => {
  it('runs while fresh, without tsx, and migrates from inside it', async () => {
    const migrated = sandfleet('migrate', '--json');
    expect(migrated.status, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ ok: true });
    const database = openDatabase({ url: url.toString(), max: 1 });
    try {
      const tables = await database.pool.query("SELECT to_regclass('public.tasks') AS tasks, to_regclass('public.agent_keys') AS newest");
      expect(tables.rows[0]).toEqual({ tasks: 'tasks', newest: 'agent_keys' });
    } finally {
      await database.close();
    }
  });

  it('is not run once a source file is newer than it', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(copy, 'src/cli/main.ts'), later, later);
    const stale = sandfleet('--help');
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toMatch(/tsx/);
  });
});
