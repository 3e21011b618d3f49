// Checks the invariants (docs/architecture.md §7) that the database alone can decide (I1, I2, I3, I6, I7,
// I8), on one consistent snapshot, and names the offending ids. I4 and I5 need the clock and
// the provider's instance list and are checked above this layer.
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../db/database.js';
import { withTransaction } from '../db/transaction.js';
import { MACHINE_DELETABLE_STATE, MACHINE_DELETED, MACHINE_RETIRE_REQUEST_STATES, MACHINE_TRANSITIONS } from './machine-lifecycle.js';
import { TASK_TRANSITIONS } from './task-lifecycle.js';
import { isAllowedStep, type TransitionTable } from './transition-table.js';

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

export async function checkInvariants(db: Db, scope: CheckScope = {}): Promise<Violation[]> {
  const inPool = (alias: string) => (scope.pool === undefined ? sql`true` : sql`${sql.raw(alias)}.pool = ${scope.pool}`);
  return withTransaction(
    db,
    async (tx) => [
      ...(await leaseConsistency(tx, inPool)),
      ...(await noDoubleLease(tx, inPool)),
      ...(await poolBounds(tx, scope.pool === undefined ? sql`true` : sql`p.name = ${scope.pool}`)),
      ...(await eventHistories(tx, inPool)),
    ],
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}

type PoolFilter = (alias: string) => SQL;

/** The rows of a checker query, typed by the columns it selects (all text or numbers). */
async function rows<Row>(tx: Tx, query: SQL): Promise<Row[]> {
  return (await tx.execute(query)).rows as Row[];
}

/** I1: a leased machine holds exactly one active task that points back; no active task lacks its machine. */
async function leaseConsistency(tx: Tx, inPool: PoolFilter): Promise<Violation[]> {
  const found: Violation[] = [];
  for (const r of await rows<{ id: string; task_id: string | null; task_state: string | null; machine_id: string | null }>(
    tx,
    sql`SELECT m.id, m.task_id, t.state AS task_state, t.machine_id
        FROM machines m LEFT JOIN tasks t ON t.id = m.task_id
        WHERE ${inPool('m')} AND m.state = 'leased' AND (t.id IS NULL OR t.state NOT IN ('assigned', 'running') OR t.machine_id IS DISTINCT FROM m.id)`,
  )) {
    found.push({
      invariant: 'I1',
      ids: [r.id, ...(r.task_id ? [r.task_id] : [])],
      detail: `leased machine ${r.id} holds task ${r.task_id ?? 'none'} (state ${r.task_state ?? 'missing'}, machine ${r.machine_id ?? 'none'})`,
    });
  }
  for (const r of await rows<{ id: string; state: string; machine_id: string | null }>(
    tx,
    sql`SELECT t.id, t.state, t.machine_id FROM tasks t
        WHERE ${inPool('t')} AND t.state IN ('assigned', 'running')
          AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.id = t.machine_id AND m.task_id = t.id)`,
  )) {
    found.push({
      invariant: 'I1',
      ids: [r.id],
      detail: `${r.state} task ${r.id} has no machine holding it (machine_id ${r.machine_id ?? 'none'})`,
    });
  }
  return found;
}

/** I2: no machine is leased to two tasks. */
async function noDoubleLease(tx: Tx, inPool: PoolFilter): Promise<Violation[]> {
  const found = await rows<{ machine_id: string; task_ids: string[] }>(
    tx,
    sql`SELECT machine_id, array_agg(id::text) AS task_ids FROM tasks t
        WHERE ${inPool('t')} AND state IN ('assigned', 'running') GROUP BY machine_id HAVING count(*) > 1`,
  );
  return found.map((r) => ({
    invariant: 'I2' as const,
    ids: [r.machine_id, ...r.task_ids],
    detail: `machine ${r.machine_id} is held by ${r.task_ids.length} active tasks`,
  }));
}

/** I6: no pool has more machine rows than max_size. */
async function poolBounds(tx: Tx, onlyPool: SQL): Promise<Violation[]> {
  const found = await rows<{ name: string; max_size: number; n: number }>(
    tx,
    sql`SELECT p.name, p.max_size, count(m.id)::int AS n FROM pools p JOIN machines m ON m.pool = p.name
        WHERE ${onlyPool} GROUP BY p.name, p.max_size HAVING count(m.id) > p.max_size`,
  );
  return found.map((r) => ({ invariant: 'I6' as const, ids: [r.name], detail: `pool ${r.name} has ${r.n} machines, max_size ${r.max_size}` }));
}

interface EventStep {
  entity: string;
  entity_id: string;
  from_state: string | null;
  to_state: string;
}

/**
 * Reads every entity's event log as a path through its transition table. I3: a deleted machine
 * went stop < release < delete-request < deleted. I7: every task was created once, as queued.
 * I8: no lost transition or count — the log is an unbroken path ending in the row's state,
 * `version` equals the number of events and `uses` the number of leases released.
 */
async function eventHistories(tx: Tx, inPool: PoolFilter): Promise<Violation[]> {
  const events = await rows<EventStep>(tx, sql`SELECT entity, entity_id::text, from_state, to_state FROM events e WHERE ${inPool('e')} ORDER BY id`);
  const current = new Map<string, { state: string; version: number; uses: number | null }>();
  type Current = { id: string; state: string; version: number; uses: number | null };
  for (const r of await rows<Current>(tx, sql`SELECT id::text, state, version, uses FROM machines m WHERE ${inPool('m')}`)) current.set(r.id, r);
  for (const r of await rows<Current>(tx, sql`SELECT id::text, state, version, NULL::int AS uses FROM tasks t WHERE ${inPool('t')}`)) current.set(r.id, r);
  const histories = new Map<string, EventStep[]>();
  for (const e of events) {
    const list = histories.get(e.entity_id);
    if (list) list.push(e);
    else histories.set(e.entity_id, [e]);
  }
  const found: Violation[] = [];
  for (const [id, steps] of histories) {
    const problem = steps[0]?.entity === 'machine' ? machineHistoryProblem(steps, current.get(id)) : taskHistoryProblem(steps, current.get(id));
    if (problem) found.push({ ...problem, ids: [id] });
  }
  for (const [id] of current) {
    if (!histories.has(id)) found.push({ invariant: 'I8', ids: [id], detail: `row ${id} has no events` });
  }
  return found;
}

type Problem = { invariant: InvariantId; detail: string } | null;

/** `stays`: states in which a row may change without moving, logging an event from the state to itself. */
function pathProblem(steps: EventStep[], table: TransitionTable<string>, initial: string, stays: readonly string[] = []): string | null {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (i === 0) {
      if (step.from_state !== null || step.to_state !== initial) return `first event is ${step.from_state} → ${step.to_state}, not creation as ${initial}`;
      continue;
    }
    const previous = steps[i - 1]!.to_state;
    if (step.from_state !== previous) return `event ${i} starts from ${step.from_state} but the row was ${previous}`;
    const finalizer = step.from_state === MACHINE_DELETABLE_STATE && step.to_state === MACHINE_DELETED;
    const stay = step.from_state === step.to_state && stays.includes(step.to_state);
    if (!finalizer && !stay && !isAllowedStep(table, step.from_state, step.to_state)) return `forbidden step ${step.from_state} → ${step.to_state}`;
  }
  return null;
}

function machineHistoryProblem(steps: EventStep[], row: { state: string; version: number; uses: number | null } | undefined): Problem {
  const broken = pathProblem(steps, MACHINE_TRANSITIONS, 'provisioning', MACHINE_RETIRE_REQUEST_STATES);
  const last = steps[steps.length - 1]!;
  if (last.to_state === MACHINE_DELETED) {
    if (broken) return { invariant: 'I3', detail: `deleted machine: ${broken}` };
    if (row) return { invariant: 'I3', detail: 'machine logged as deleted still has a row' };
    const order = ['stopped', 'released', 'deleting', 'deleted'].map((s) => steps.findLastIndex((e) => e.to_state === s));
    const served = steps.some((e) => e.to_state === 'leased' || e.to_state === 'draining');
    if (served && !order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))) {
      return { invariant: 'I3', detail: 'deleted machine did not go stop < release < delete-request < deleted' };
    }
    return null;
  }
  if (broken) return { invariant: 'I8', detail: `machine history: ${broken}` };
  if (!row) return { invariant: 'I8', detail: 'machine row is missing but was never logged as deleted' };
  if (row.state !== last.to_state) return { invariant: 'I8', detail: `machine is ${row.state} but its last event says ${last.to_state}` };
  if (row.version !== steps.length) return { invariant: 'I8', detail: `machine version ${row.version} but ${steps.length} events` };
  const served = countServedLeases(steps);
  if (row.uses !== served) return { invariant: 'I8', detail: `machine uses ${row.uses} but ${served} leases were released` };
  return null;
}

function countServedLeases(steps: EventStep[]): number {
  let served = 0;
  let holding = false;
  for (const e of steps) {
    if (e.to_state === 'leased') holding = true;
    if (e.to_state === 'released' && holding) {
      served++;
      holding = false;
    }
  }
  return served;
}

function taskHistoryProblem(steps: EventStep[], row: { state: string; version: number } | undefined): Problem {
  if (!row) return { invariant: 'I7', detail: 'task has events but no row' };
  const broken = pathProblem(steps, TASK_TRANSITIONS, 'queued');
  if (broken) return { invariant: steps[0]?.from_state === null ? 'I8' : 'I7', detail: `task history: ${broken}` };
  const last = steps[steps.length - 1]!;
  if (row.state !== last.to_state) return { invariant: 'I8', detail: `task is ${row.state} but its last event says ${last.to_state}` };
  if (row.version !== steps.length) return { invariant: 'I8', detail: `task version ${row.version} but ${steps.length} events` };
  return null;
}
