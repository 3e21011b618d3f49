// Each test file gets its own throwaway database, migrated from migrations/, so files run in
// parallel and a rerun starts clean.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { databaseUrlFromEnv, dropDatabase, migrateDatabase, openDatabase, type Database } from '../../src/db/index.js';
import { migrateQueueSchema } from '../../src/scheduler/queue.js';

export interface TestDatabase extends Database {
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(label: string, max = 24, options: { queue?: boolean } = {}): Promise<TestDatabase> {
  const name = `sf_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const url = new URL(databaseUrlFromEnv());
  url.pathname = `/${name}`;
  await migrateDatabase({ url: url.toString() });
  const database = openDatabase({ url: url.toString(), max, applicationName: `sandfleet-test-${label}` });
  // BullMQ's schema only where a test runs the queue: its migrations take a second or two.
  if (options.queue) await migrateQueueSchema(database);
  return {
    ...database,
    name,
    async drop() {
      await database.close();
      await dropDatabase(url.toString(), name);
    },
  };
}

/**
 * A throwaway database for the current test file: created before its tests, dropped after.
 * The returned object reads through to it, so tests write `t.db` as usual.
 */
export function useTestDatabase(label: string, max = 24, options: { queue?: boolean } = {}): TestDatabase {
  let current: TestDatabase | undefined;
  beforeAll(async () => {
    current = await createTestDatabase(label, max, options);
  });
  afterAll(async () => {
    await current?.drop();
  });
  const ready = (): TestDatabase => {
    if (!current) throw new Error('the test database is only there inside tests');
    return current;
  };
  return {
    get db() { return ready().db; },
    get pool() { return ready().pool; },
    get url() { return ready().url; },
    get name() { return ready().name; },
    close: () => ready().close(),
    drop: () => ready().drop(),
  };
}
