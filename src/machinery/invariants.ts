// Checks the invariants (docs/architecture.md §7) that the database alone can decide (I1, I2, I3, I6, I7,
// I8), on one consistent snapshot, and names the offending ids. I4 and I5 need the clock and
// the provider's instance list and are checked above this layer. Memory is bounded whatever the
// size of the tables: the row checks are SQL that returns only offenders, the event log is read
// in batches (event-histories.ts), and at most `limit` violations of each invariant are listed,
// the rest only counted.
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../db/database.js';
import { withTransaction } from '../db/transaction.js';
import { CappedViolations } from './capped-violations.js';
import { checkHistories, HISTORY_BATCH } from './event-histories.js';

export type InvariantId = 'I1' | 'I2' | 'I3' | 'I6' | 'I7' | 'I8';

export interface Violation {
  invariant: InvariantId;
  ids: string[];
  detail: string;
}

export interface CheckScope {
  /** Only this pool's machines, tasks and events. */
  pool?: string | undefined;
}

/** Violations listed per invariant; past it they are counted only. */
export const VIOLATION_LIMIT = 1000;

export interface InvariantOptions {
  /** At most this many violations of each invariant are listed (VIOLATION_LIMIT). */
  limit?: number;
  /** Events read at a time (HISTORY_BATCH). */
  batch?: number;
}

export interface InvariantFindings {
  violations: Violation[];
  /** Per invariant, the violations found past the limit: counted, not listed. */
  omitted: Partial<Record<InvariantId, number>>;
}

type Findings = CappedViolations<InvariantId, Violation>;

/** The violations of the database invariants, at most `limit` listed per invariant, on one snapshot. */
export async function findViolations(db: Db, scope: CheckScope = {}, options: InvariantOptions = {}): Promise<InvariantFindings> {
  const inPool = (alias: string) => (scope.pool === undefined ? sql`true` : sql`${sql.raw(alias)}.pool = ${scope.pool}`);
  return withTransaction(
    db,
    async (tx) => {
      // Built inside: a retried transaction starts over with nothing collected.
      const found: Findings = new CappedViolations(options.limit ?? VIOLATION_LIMIT);
      await leaseConsistency(tx, inPool, found);
      await noDoubleLease(tx, inPool, found);
      await poolBounds(tx, scope.pool === undefined ? sql`true` : sql`p.name = ${scope.pool}`, found);
      await checkHistories(tx, inPool, (p) => found.add({ invariant: p.invariant, ids: [p.id], detail: p.detail }), options.batch ?? HISTORY_BATCH);
      await withoutHistory(tx, inPool, found);
      return { violations: found.violations, omitted: found.omitted };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}

/**
 * The violations as one list: those past the limit are summed up in one entry per invariant
 * (with no ids), so a caller that only asks "is it clean?" is never told yes when it is not.
 */
export async function checkInvariants(db: Db, scope: CheckScope = {}, options: InvariantOptions = {}): Promise<Violation[]> {
  const { violations, omitted } = await findViolations(db, scope, options);
  return [...violations, ...omittedEntries(omitted)];
}

/** One entry per invariant with violations past the limit, saying how many were not listed. */
export function omittedEntries(omitted: Partial<Record<InvariantId, number>>): Violation[] {
  return Object.entries(omitted).map(([invariant, n]) => ({ invariant: invariant as InvariantId, ids: [], detail: `${n} more ${invariant} violation(s) not listed` }));
}

type PoolFilter = (alias: string) => SQL;

/**
 * The rows of a checker query, at most `limit`, and how many there were in all (`count(*) OVER ()`
 * in the query, as `total`): the offenders past the limit are counted in the server, never read.
 */
async function offenders<Row>(tx: Tx, found: Findings, invariant: InvariantId, query: SQL): Promise<Row[]> {
  const result = (await tx.execute(sql`SELECT *, count(*) OVER () AS total FROM (${query}) AS offenders LIMIT ${found.limit}`)).rows as (Row & { total: string })[];
  found.omit(invariant, Number(result[0]?.total ?? 0) - result.length);
  return result;
}

/** I1: a leased machine holds exactly one active task that points back; no active task lacks its machine. */
async function leaseConsistency(tx: Tx, inPool: PoolFilter, found: Findings): Promise<void> {
  for (const r of await offenders<{ id: string; task_id: string | null; task_state: string | null; machine_id: string | null }>(
    tx,
    found,
    'I1',
    sql`SELECT m.id, m.task_id, t.state AS task_state, t.machine_id
        FROM machines m LEFT JOIN tasks t ON t.id = m.task_id
        WHERE ${inPool('m')} AND m.state = 'leased' AND (t.id IS NULL OR t.state NOT IN ('assigned', 'running') OR t.machine_id IS DISTINCT FROM m.id)`,
  )) {
    found.add({
      invariant: 'I1',
      ids: [r.id, ...(r.task_id ? [r.task_id] : [])],
      detail: `leased machine ${r.id} holds task ${r.task_id ?? 'none'} (state ${r.task_state ?? 'missing'}, machine ${r.machine_id ?? 'none'})`,
    });
  }
  for (const r of await offenders<{ id: string; state: string; machine_id: string | null }>(
    tx,
    found,
    'I1',
    sql`SELECT t.id, t.state, t.machine_id FROM tasks t
        WHERE ${inPool('t')} AND t.state IN ('assigned', 'running')
          AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.id = t.machine_id AND m.task_id = t.id)`,
  )) {
    found.add({
      invariant: 'I1',
      ids: [r.id],
      detail: `${r.state} task ${r.id} has no machine holding it (machine_id ${r.machine_id ?? 'none'})`,
    });
  }
}

/** I2: no machine is leased to two tasks. */
async function noDoubleLease(tx: Tx, inPool: PoolFilter, found: Findings): Promise<void> {
  const rows = await offenders<{ machine_id: string; task_ids: string[] }>(
    tx,
    found,
    'I2',
    sql`SELECT machine_id, array_agg(id::text) AS task_ids FROM tasks t
        WHERE ${inPool('t')} AND state IN ('assigned', 'running') GROUP BY machine_id HAVING count(*) > 1`,
  );
  for (const r of rows) {
    found.add({ invariant: 'I2', ids: [r.machine_id, ...r.task_ids], detail: `machine ${r.machine_id} is held by ${r.task_ids.length} active tasks` });
  }
}

/** I6: no pool has more machine rows than max_size. */
async function poolBounds(tx: Tx, onlyPool: SQL, found: Findings): Promise<void> {
  const rows = await offenders<{ name: string; max_size: number; n: number }>(
    tx,
    found,
    'I6',
    sql`SELECT p.name, p.max_size, count(m.id)::int AS n FROM pools p JOIN machines m ON m.pool = p.name
        WHERE ${onlyPool} GROUP BY p.name, p.max_size HAVING count(m.id) > p.max_size`,
  );
  for (const r of rows) found.add({ invariant: 'I6', ids: [r.name], detail: `pool ${r.name} has ${r.n} machines, max_size ${r.max_size}` });
}

/** I8: a machine or task row with no event at all (its creation was never logged). */
async function withoutHistory(tx: Tx, inPool: PoolFilter, found: Findings): Promise<void> {
  const logged = (alias: string) => sql`EXISTS (SELECT 1 FROM events e WHERE e.entity_id = ${sql.raw(alias)}.id AND ${inPool('e')})`;
  const rows = await offenders<{ id: string }>(
    tx,
    found,
    'I8',
    sql`SELECT m.id::text FROM machines m WHERE ${inPool('m')} AND NOT ${logged('m')}
        UNION ALL
        SELECT t.id::text FROM tasks t WHERE ${inPool('t')} AND NOT ${logged('t')}`,
  );
  for (const r of rows) found.add({ invariant: 'I8', ids: [r.id], detail: `row ${r.id} has no events` });
}
