// The compiled build `npm start` runs: in a copy of the project whose node_modules lacks tsx (a
// development dependency only), `bin/sandfleet.js` must run dist/ while it is fresh, find the
// migrations from inside it, and rebuild it when a source file is newer (the source is never
// silently out of date, and no TypeScript loader is needed to run).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
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
  for (const part of ['bin', 'scripts', 'src', 'migrations', 'package.json']) cpSync(path.join(ROOT, part), path.join(copy, part), { recursive: true });
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

  it('is rebuilt, still without tsx, once a source file is newer than it', () => {
    const bundle = path.join(copy, 'dist/cli/main.js');
    const before = statSync(bundle).mtimeMs;
    // Newer than the build, but not in the future: the rebuilt bundle must come out fresh.
    const edited = new Date(before + 1);
    utimesSync(path.join(copy, 'src/cli/main.ts'), edited, edited);
    const rebuilt = sandfleet('--help');
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toMatch(/building dist\/cli/);
    expect(rebuilt.stdout).toMatch(/Usage: sandfleet/);
    expect(statSync(bundle).mtimeMs).toBeGreaterThan(before);
    const fresh = sandfleet('--help');
    expect(fresh.stderr).toBe('');
  });
});
