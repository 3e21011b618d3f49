// NAIVE TWIN — never use outside tests. get_or_create as in seed 003: look for the row, insert
// it when not found. Two callers that both look before either inserts both insert.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/index.js';
import type { PoolDefinition } from '../../../src/machinery/index.js';

export async function getOrCreateTask(db: Db, pool: string, key: string): Promise<string> {
  const found = await db.execute(sql`SELECT id FROM tasks WHERE idempotency_key = ${key}`);
  if (found.rows[0]) return String(found.rows[0].id);
  const id = randomUUID();
  await db.execute(sql`INSERT INTO tasks (id, idempotency_key, pool, payload, state) VALUES (${id}, ${key}, ${pool}, '{}', 'queued')`);
  return id;
}

export async function getOrCreatePool(db: Db, d: PoolDefinition): Promise<void> {
  const found = await db.execute(sql`SELECT name FROM pools WHERE name = ${d.name}`);
  if (found.rows[0]) {
    await db.execute(sql`UPDATE pools SET max_size = ${d.maxSize} WHERE name = ${d.name}`);
    return;
  }
  await db.execute(sql`INSERT INTO pools (name, provider, max_size) VALUES (${d.name}, ${d.provider}, ${d.maxSize})`);
}
