// A long, consistent event history for the invariant checker to read, written server side by
// INSERT … SELECT generate_series (millions of rows in a minute, never through Node). The log is
// a run of "slots", one task each, in time order: task g is served by machine g % machines,
// which was created in its first slot, is reimaged after every task and, if it is not one of the
// fleet's live machines, deleted after its last one. So events of one entity are spread over the
// whole table as in a real log, every path is allowed, every live row matches its history
// (state, version, uses) and `sandfleet check` finds nothing: a checker that does is wrong.
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../src/db/index.js';
import { TAG } from '../../src/providers/types.js';

/** Events per slot (4 of the task, 6 of its machine) and those of a machine's creation. */
const PER_SLOT = 10;
const PER_CREATION = 3;
/** Slots (about ten events each) per INSERT: each statement stays well inside the 30 s statement timeout. */
const SLOTS_PER_STATEMENT = 50_000;

export interface HistoryShape {
  pool: string;
  /** The sim cloud's cluster the live machines' instances are tagged with. */
  cluster: string;
  /** Machines that ever served; each serves at least one task. */
  machines: number;
  /** Of those, the ones whose rows live (ready, each with its instance); the rest were deleted. */
  alive: number;
  /** Tasks, one per slot, all completed. */
  slots: number;
}

/** About `events` events: 20,000 machines of which 1,000 live (fewer for a small log), the rest tasks. */
export function shapeFor(events: number, pool: string, cluster: string): HistoryShape {
  const machines = Math.max(2, Math.min(20_000, Math.floor(events / 500)));
  const slots = Math.max(machines, Math.round((events - PER_CREATION * machines) / PER_SLOT));
  return { pool, cluster, machines, alive: Math.max(1, Math.floor(machines / 20)), slots };
}

/** How many events `shape` writes. */
export function eventCount(shape: HistoryShape): number {
  return shape.slots * PER_SLOT + shape.machines * PER_CREATION;
}

/** Entity ids are md5 uuids of a number, so the checker's (entity_id, id) order is not the log's. */
export const machineId = (j: number | SQL) => sql`md5('m' || ${j})::uuid`;
export const taskId = (g: number | SQL) => sql`md5('t' || ${g})::uuid`;

/**
 * Writes the pool, the live machines and their instances, the tasks and the events. The events'
 * secondary indexes are dropped during the load and rebuilt from their own definitions after
 * (far faster than maintaining them row by row), then the table is vacuumed and analyzed as
 * autovacuum would have it on a database that old.
 */
export async function seedHistory(db: Db, shape: HistoryShape, onProgress?: (message: string) => void): Promise<void> {
  const { pool, cluster, machines: m, alive, slots } = shape;
  if (m > slots || alive > m) throw new Error(`bad history shape ${JSON.stringify(shape)}`);
  await db.execute(sql`INSERT INTO pools (name, provider, max_size, recycle) VALUES (${pool}, 'sim', ${alive}, 'reimage')`);
  // Slots a machine served: those g < slots with g % m = j.
  const served = (j: SQL) => sql`((${slots} - 1 - ${j}) / ${m} + 1)`;
  await db.execute(sql`
    INSERT INTO machines (id, name, pool, provider_id, ip, state, prev_state, version, uses, created_at, state_changed_at)
    SELECT ${machineId(sql`j`)}, 'check-m-' || j, ${pool}, 'sim-check-' || j, '10.' || (j / 65536) % 256 || '.' || (j / 256) % 256 || '.' || j % 256,
           'ready', 'reimaging', ${PER_CREATION} + 6 * ${served(sql`j`)}, ${served(sql`j`)}, now() - interval '1 day', now() - interval '1 hour'
    FROM generate_series(0, ${alive - 1}) AS j`);
  await db.execute(sql`
    INSERT INTO sim_cloud.instances (id, cluster, pool, client_token, name, tags, ip, phase, launched_at, settles_at)
    SELECT provider_id, ${cluster}, pool, id::text, name,
           jsonb_build_object(${TAG.cluster}::text, ${cluster}::text, ${TAG.pool}::text, pool, ${TAG.machine}::text, id::text, ${TAG.name}::text, name),
           ip, 'launched', created_at, created_at
    FROM machines WHERE pool = ${pool}`);
  await db.execute(sql`
    INSERT INTO tasks (id, pool, payload, state, prev_state, version, attempts, machine_id, outcome,
                       created_at, state_changed_at, assigned_at, started_at, finished_at)
    SELECT ${taskId(sql`g`)}, ${pool}, '{}'::jsonb, 'completed', 'running', 4, 1, ${machineId(sql`g % ${m}`)}, 'completed', t, t, t, t, t
    FROM generate_series(0, ${slots - 1}) AS g, LATERAL (SELECT now() - interval '1 hour' - (${slots} - g) * interval '1 second' AS t) AS at`);
  const indexes = await db.execute(sql`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' AND indexname <> 'events_pkey'`);
  for (const r of indexes.rows) await db.execute(sql.raw(`DROP INDEX ${String(r.indexname)}`));
  // Slot g, positions in log order: 0-2 only in a machine's first slot, 11-12 after a task unless
  // it was a deleted machine's last, 13-14 only then. Ids are given, so nothing is sorted: the heap
  // is written in id order, as a live log is, and the sequence is moved past them.
  for (let from = 0; from < slots; from += SLOTS_PER_STATEMENT) {
    const to = Math.min(slots, from + SLOTS_PER_STATEMENT) - 1;
    await db.execute(sql`
    INSERT INTO events (id, entity, entity_id, pool, from_state, to_state, actor, at)
    SELECT 1 + s.g * 15 + ev.pos, ev.entity, CASE ev.entity WHEN 'machine' THEN ${machineId(sql`s.j`)} ELSE ${taskId(sql`s.g`)} END,
           ${pool}, ev.from_state, ev.to_state, 'bench', now() - interval '1 hour' - (${slots} - s.g) * interval '1 second'
    FROM (SELECT g, g % ${m} AS j, g < ${m} AS first, g + ${m} >= ${slots} AND g % ${m} >= ${alive} AS deleted FROM generate_series(${from}::int, ${to}::int) AS g) AS s
    CROSS JOIN LATERAL (VALUES
      (0, 'machine', NULL, 'provisioning'), (1, 'machine', 'provisioning', 'booting'), (2, 'machine', 'booting', 'ready'),
      (3, 'task', NULL, 'queued'), (4, 'machine', 'ready', 'leased'), (5, 'task', 'queued', 'assigned'),
      (6, 'task', 'assigned', 'running'), (7, 'task', 'running', 'completed'), (8, 'machine', 'leased', 'stopping'),
      (9, 'machine', 'stopping', 'stopped'), (10, 'machine', 'stopped', 'released'),
      (11, 'machine', 'released', 'reimaging'), (12, 'machine', 'reimaging', 'ready'),
      (13, 'machine', 'released', 'deleting'), (14, 'machine', 'deleting', 'deleted')
    ) AS ev(pos, entity, from_state, to_state)
    WHERE (ev.pos > 2 OR s.first) AND (ev.pos < 11 OR (ev.pos < 13) <> s.deleted)`);
    onProgress?.(`events of tasks ${from}-${to} written`);
  }
  await db.execute(sql`SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))`);
  onProgress?.('rebuilding the events indexes');
  for (const r of indexes.rows) await db.execute(sql.raw(String(r.indexdef)));
  onProgress?.('vacuum analyze');
  await db.execute(sql`VACUUM ANALYZE events, machines, tasks`);
}
