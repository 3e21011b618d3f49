// The invariant checker reads the event log in keyset batches: on a log of 200,000 events (over
// a hundred batches), violations planted exactly where a batch cuts (a machine's 300-event
// history broken on the first event of a batch, a history that starts a batch, one that ends
// one) and elsewhere (a deleted machine's path, rows with no history at all) are all found, with
// the same ids and sentences whatever the batch size; no statement returns more rows than a
// batch, however long the log; past the per-invariant limit violations are counted, not listed.
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLUSTER } from '../../src/config/schema.js';
import { HISTORY_BATCH } from '../../src/machinery/event-histories.js';
import { checkInvariants, findViolations, type Violation } from '../../src/machinery/index.js';
import { eventCount, seedHistory, shapeFor } from '../bench/check-seed.js';
import { useTestDatabase } from '../support/database.js';

const t = useTestDatabase('check_batches', 4);
const POOL = 'check-batches';
const SHAPE = shapeFor(200_000, POOL, DEFAULT_CLUSTER);

interface Planted {
  expected: Violation[];
  events: number;
  /** Per planted cut, a batch size (500-2,000) that puts a batch boundary exactly there. */
  cuts: { mid: number; starts: number; ends: number };
}

interface Candidate {
  id: string;
  entity_id: string;
  pos: number;
}

/**
 * Events of the checker's order (entity_id, id) matching `where`, with their 0-based position;
 * `continues`: its entity has events before it, `ends`: none after, `nth` of `length` in its
 * entity's history, `alive`: its machine has a row.
 */
async function candidates(where: ReturnType<typeof sql>): Promise<Candidate[]> {
  const result = await t.db.execute(sql`
    SELECT id, entity_id, pos FROM (
      SELECT e.id::text, e.entity_id::text, e.entity, e.to_state,
             (row_number() OVER w - 1)::int AS pos,
             coalesce(lag(e.entity_id) OVER w = e.entity_id, false) AS continues,
             coalesce(lead(e.entity_id) OVER w <> e.entity_id, true) AS ends,
             (row_number() OVER mine)::int AS nth, (count(*) OVER mine)::int AS length,
             EXISTS (SELECT 1 FROM machines m WHERE m.id = e.entity_id) AS alive
      FROM events e WHERE e.pool = ${POOL}
      WINDOW w AS (ORDER BY e.entity_id, e.id), mine AS (PARTITION BY e.entity_id)
    ) AS x
    WHERE pos > 0 AND ${where} ORDER BY pos`);
  return result.rows as unknown as Candidate[];
}

/**
 * The first candidate at which some batch size of 500-2,000 cuts: `shift` 0 puts it first in a
 * batch (its position a multiple of the size), 1 last (the next position is).
 */
function cutAt(found: Candidate[], shift: 0 | 1, taken: readonly Violation[]): { event: Candidate; batch: number } {
  for (const event of found.filter((e) => !taken.some((v) => v.ids.includes(e.entity_id)))) {
    for (let batch = 500; batch <= 2000; batch++) if ((event.pos + shift) % batch === 0) return { event, batch };
  }
  throw new Error('no candidate event at any batch boundary: the seeded shape changed');
}

/** Breaks the seeded (clean) log in six places; answers what the checker must say. */
async function plant(): Promise<Planted> {
  const expected: Violation[] = [];
  // Rows with no history at all: a task and a live machine whose events are gone.
  const lonely = await t.db.execute(sql`
    SELECT (SELECT id::text FROM tasks WHERE pool = ${POOL} ORDER BY id OFFSET 77 LIMIT 1) AS task,
           (SELECT id::text FROM machines WHERE pool = ${POOL} ORDER BY id OFFSET 3 LIMIT 1) AS machine`);
  for (const id of [String(lonely.rows[0]!.task), String(lonely.rows[0]!.machine)]) {
    await t.db.execute(sql`DELETE FROM events WHERE entity_id = ${id}`);
    expected.push({ invariant: 'I8', ids: [id], detail: `row ${id} has no events` });
  }
  // Positions are read after the deletions, which moved them; the edits below do not.
  // A live machine's ~300-event history broken in its middle, on the first event of a batch:
  // ready → leased becomes ready → released, a forbidden step the fold must see across the cut.
  const mid = cutAt(await candidates(sql`continues AND alive AND entity = 'machine' AND to_state = 'leased' AND nth > 100 AND length - nth > 100`), 0, expected);
  await t.db.execute(sql`UPDATE events SET to_state = 'released' WHERE id = ${mid.event.id}`);
  expected.push({ invariant: 'I8', ids: [mid.event.entity_id], detail: 'machine history: forbidden step ready → released' });
  // A task whose history starts a batch, created in the wrong state.
  const starts = cutAt(await candidates(sql`NOT continues AND entity = 'task'`), 0, expected);
  await t.db.execute(sql`UPDATE events SET to_state = 'running' WHERE id = ${starts.event.id}`);
  expected.push({ invariant: 'I8', ids: [starts.event.entity_id], detail: 'task history: first event is null → running, not creation as queued' });
  // A task whose history ends a batch (its last event is the batch's last): its row's version is off.
  const ends = cutAt(await candidates(sql`ends AND entity = 'task'`), 1, expected);
  await t.db.execute(sql`UPDATE tasks SET version = 5 WHERE id = ${ends.event.entity_id}`);
  expected.push({ invariant: 'I8', ids: [ends.event.entity_id], detail: 'task version 5 but 4 events' });
  // A deleted machine (no row, a history ending in deleted): a stop step rewritten inside it.
  const deleted = await t.db.execute(sql`
    SELECT e.id::text, e.entity_id::text, (SELECT count(*)::int FROM events b WHERE b.entity_id = e.entity_id AND b.id < e.id) AS index
    FROM events e
    WHERE e.pool = ${POOL} AND e.to_state = 'stopped'
      AND EXISTS (SELECT 1 FROM events d WHERE d.entity_id = e.entity_id AND d.to_state = 'deleted')
    ORDER BY e.entity_id, e.id OFFSET 2 LIMIT 1`);
  const gone = deleted.rows[0] as { id: string; entity_id: string; index: number };
  await t.db.execute(sql`UPDATE events SET from_state = 'leased' WHERE id = ${gone.id}`);
  expected.push({ invariant: 'I3', ids: [gone.entity_id], detail: `deleted machine: event ${gone.index} starts from leased but the row was stopping` });
  const count = await t.db.execute(sql`SELECT count(*)::int AS n FROM events WHERE pool = ${POOL}`);
  return { expected, events: Number(count.rows[0]!.n), cuts: { mid: mid.batch, starts: starts.batch, ends: ends.batch } };
}

/** Counts, per statement, the rows PostgreSQL sent back to this process while `body` ran. */
async function largestResult<T>(body: () => Promise<T>): Promise<{ value: T; rows: number }> {
  const original = Reflect.get(pg.Client.prototype, 'query') as (this: unknown, ...args: unknown[]) => unknown;
  let rows = 0;
  pg.Client.prototype.query = function observed(this: pg.Client, ...args: unknown[]) {
    const result = original.apply(this, args);
    if (result instanceof Promise) {
      void result.then(
        (r: { rows?: unknown[] }) => (rows = Math.max(rows, r.rows?.length ?? 0)),
        () => undefined,
      );
    }
    return result;
  } as typeof pg.Client.prototype.query;
  try {
    return { value: await body(), rows };
  } finally {
    pg.Client.prototype.query = original as typeof pg.Client.prototype.query;
  }
}

const byId = (a: Violation, b: Violation) => `${a.invariant}${a.ids[0]}`.localeCompare(`${b.invariant}${b.ids[0]}`);

let planted: Planted;

beforeAll(async () => {
  await seedHistory(t.db, SHAPE);
  expect(await checkInvariants(t.db, { pool: POOL })).toEqual([]);
  planted = await plant();
}, 120_000);

afterEach(() => {
  // A failing observer must never outlive its test.
  expect(pg.Client.prototype.query.name).not.toBe('observed');
});

describe('the invariant checker on a log of many batches', () => {
  it('was given a log of many batches', () => {
    expect(eventCount(SHAPE)).toBe(200_000);
    expect(planted.events).toBeGreaterThan(190_000);
  });

  /** Every planted violation, exactly, and no statement that returned more than a batch of rows. */
  async function findsAll(batch: number): Promise<void> {
    const { value, rows } = await largestResult(() => findViolations(t.db, { pool: POOL }, { batch }));
    expect([...value.violations].sort(byId)).toEqual([...planted.expected].sort(byId));
    expect(value.omitted).toEqual({});
    // What the checker held at once: never more than a batch of events, whatever the log.
    expect(rows).toBeLessThanOrEqual(batch);
  }

  it('finds a break on the first event of a batch, in the middle of a long history', () => findsAll(planted.cuts.mid));
  it('finds a broken history that starts a batch', () => findsAll(planted.cuts.starts));
  it('finds a row at odds with a history that ends a batch', () => findsAll(planted.cuts.ends));
  it.each([
    ['a prime batch size', 997],
    ['the default batch size', HISTORY_BATCH],
    ['one batch exactly as long as the log (then an empty one)', 0],
    ['one batch one event short of the log', -1],
  ])('finds the same with %s', (_, size) => findsAll(size > 0 ? size : planted.events + size));

  it('lists at most `limit` violations of an invariant and counts the rest', async () => {
    const i8 = planted.expected.filter((v) => v.invariant === 'I8').length;
    const { violations, omitted } = await findViolations(t.db, { pool: POOL }, { limit: 2, batch: 997 });
    expect(violations.filter((v) => v.invariant === 'I8')).toHaveLength(2);
    expect(violations.filter((v) => v.invariant === 'I3')).toHaveLength(1);
    expect(omitted).toEqual({ I8: i8 - 2 });
    // The one-list form says so in an entry of its own, so it is never taken for clean.
    const listed = await checkInvariants(t.db, { pool: POOL }, { limit: 2, batch: 997 });
    expect(listed).toContainEqual({ invariant: 'I8', ids: [], detail: `${i8 - 2} more I8 violation(s) not listed` });
  });
});
