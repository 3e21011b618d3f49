// Each test file gets its own throwaway database, migrated from migrations/, so files run in
// parallel and a rerun starts clean.
import { randomBytes } from 'node:crypto';
import { databaseUrlFromEnv, dropDatabase, migrateDatabase, openDatabase, type Database } from '../../src/db/index.js';

export interface TestDatabase extends Database {
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(label: string, max = 24): Promise<TestDatabase> {
  const name = `sf_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const url = new URL(databaseUrlFromEnv());
  url.pathname = `/${name}`;
  await migrateDatabase({ url: url.toString() });
  const database = openDatabase({ url: url.toString(), max, applicationName: `sandfleet-test-${label}` });
  return {
    ...database,
    name,
    async drop() {
      await database.close();
      await dropDatabase(url.toString(), name);
    },
  };
}
