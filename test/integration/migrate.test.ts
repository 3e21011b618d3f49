// `sandfleet migrate` run as real processes: several at once against a database that does not
// exist yet end with one correct schema and no error.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, MIGRATIONS_FOLDER, openDatabase } from '../../src/db/index.js';

const run = promisify(execFile);
const bin = path.resolve(import.meta.dirname, '../../bin/sandfleet.js');
const created: string[] = [];

function freshUrl(): { url: string; name: string } {
  const name = `sf_test_migrate_${randomBytes(4).toString('hex')}`;
  const url = new URL(databaseUrlFromEnv());
  url.pathname = `/${name}`;
  created.push(name);
  return { url: url.toString(), name };
}

async function migrateProcess(url: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, 'migrate', '--json'], { env: { ...process.env, DATABASE_URL: url } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function schemaOf(url: string) {
  const database = openDatabase({ url, max: 1 });
  try {
    const objects = await database.db.execute(sql`
      SELECT 'table ' || table_name AS o FROM information_schema.tables WHERE table_schema = 'public'
      UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = 'public'
      UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace
      ORDER BY 1`);
    const applied = await database.db.execute(sql`SELECT count(*)::int AS n FROM sandfleet_meta.migrations`);
    return { objects: objects.rows.map((r) => String(r.o)), applied: Number(applied.rows[0]?.n) };
  } finally {
    await database.close();
  }
}

afterAll(async () => {
  for (const name of created) await dropDatabase(databaseUrlFromEnv(), name);
});

describe('sandfleet migrate', () => {
  it('four processes at once on an empty server: one correct schema, every process succeeds', async () => {
    const { url: reference } = freshUrl();
    expect((await migrateProcess(reference)).code).toBe(0);
    const { url } = freshUrl();
    const results = await Promise.all([1, 2, 3, 4].map(() => migrateProcess(url)));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
    }
    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: unknown[] };
    const schema = await schemaOf(url);
    expect(schema.applied).toBe(journal.entries.length);
    expect(schema).toEqual(await schemaOf(reference));
    expect(schema.objects).toEqual(expect.arrayContaining(['table machines', 'table tasks', 'table pools', 'table events', 'index tasks_active_machine_key']));
  });

  it('says what to do when PostgreSQL cannot be reached, without a stack trace', async () => {
    const r = await migrateProcess('postgres://postgres@127.0.0.1:1/sandfleet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/sandfleet/);
    expect(r.stderr).toMatch(/Start it .* or set DATABASE_URL/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
