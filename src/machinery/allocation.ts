// Allocation (rule 7): queued tasks of a pool are paired with its longest-ready machines and
// leased, all in one statement, shared between tenants by weighted round robin (priority, then
// age, within a tenant); both sides are taken with FOR UPDATE SKIP LOCKED, so concurrent claimers
// never pick the same row and never wait on each other. `allocate` is the one-lease form.
import { sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../db/database.js';
import { machines, tasks, tenants, tenantTurns, type MachineRow, type TaskRow } from '../db/schema.js';
import { withTransaction } from '../db/transaction.js';
import { MACHINE_TRANSITIONS } from './machine-lifecycle.js';
import { markReady } from './machines.js';
import { InvariantBreach, rowOf } from './outcome.js';
import { TASK_TRANSITIONS } from './task-lifecycle.js';
import { machineEntity, reportTransitions, taskEntity, transitionMachine, transitionTask } from './transition.js';

export interface Lease {
  task: TaskRow;
  machine: MachineRow;
}

export type AllocationTarget = { pool: string } | { taskId: string };

/** The columns a lease sets beside the state change (the same for one lease or a batch). */
const LEASE_SET = { machine: (taskId: SQL) => [sql`task_id = ${taskId}`] };
// A new attempt starts with no start and no heartbeat of its own: the deadline and the agent's
// quiet limit count from this lease, never from an earlier attempt's.
const ASSIGN_SET = (machineId: SQL) => [
  sql`machine_id = ${machineId}`,
  sql`attempts = attempts + 1`,
  sql`assigned_at = now()`,
  sql`started_at = NULL`,
  sql`heartbeat_at = NULL`,
  sql`outcome = NULL`,
];

/** Every lease is announced on this channel (payload: the machine id) when its transaction commits: agents waiting for their machine's lease hear of it at once. */
export const LEASE_CHANNEL = 'sandfleet_lease';

/** Names the per-pool claim lock among advisory locks (two-key form: its own key space). */
const CLAIM_LOCK_CLASS = 0x5f1ee7;
/** Names the per-tenant running lock: claims that could lease a capped tenant's task take it. */
const RUNNING_LOCK_CLASS = 0x5f1ee9;

/**
 * The tenants with `max_running` take turns too, after the pool's turn and in name order (so
 * claims of two pools never wait on each other in a circle): a claim then counts a capped
 * tenant's active tasks with everything committed before, and no two pools both lease its last
 * place. The correlated subquery runs after the pool's lock is granted, never before it.
 */
const TENANT_TURNS = (granted: SQL) => sql`
  CASE WHEN ${granted} THEN (SELECT count(pg_advisory_xact_lock(${RUNNING_LOCK_CLASS}, hashtext(c.name)))
    FROM (SELECT name FROM ${tenants} WHERE max_running IS NOT NULL ORDER BY name) c) END`;

/**
 * Leases up to `limit` ready machines of `pool` to its queued tasks in one statement, inside the
 * caller's transaction (after the write that made a task or machine claimable); answers the
 * leases made, possibly none.
 *
 * Claims of one pool take turns under a transaction-scoped lock, and the claim statement, run
 * after the lock is granted, sees everything committed before: so of two transactions that
 * each make one side claimable at once (a submission and a machine becoming ready), the later
 * one always sees the other's row. Without the turn each would see only its own, and both would
 * commit a task queued beside a ready machine. The turn lasts one statement and the commit.
 */
export async function claimLeases(tx: Tx, pool: string, limit: number, actor = 'allocator'): Promise<Lease[]> {
  if (limit <= 0) return [];
  await tx.execute(sql`
    SELECT ${TENANT_TURNS(sql`t.granted IS NOT NULL`)}
    FROM (SELECT pg_advisory_xact_lock(${CLAIM_LOCK_CLASS}, hashtext(${pool}))::text AS granted OFFSET 0) t`);
  return claimInTurn(tx, pool, limit, actor);
}

/**
 * How a write that made work claimable takes its pool's turn: `wait` for it, or `try` and, when
 * another transaction holds it, claim nothing and leave the claim to its caller, who must claim
 * after this transaction commits (DeferredClaims). Waiting holds the writer's connection for as
 * long as the turns ahead take, and each turn spans the claimers' round trips to the database:
 * under load the waiters queue up and take the connection pool with them.
 */
export type ClaimTurn = 'wait' | 'try';

/** claimLeases, or with `try` null when the turn is busy (nothing claimed; claim again after the commit). */
export async function claimLeasesIn(tx: Tx, pool: string, limit: number, actor: string, turn: ClaimTurn): Promise<Lease[] | null> {
  if (turn === 'wait' || limit <= 0) return claimLeases(tx, pool, limit, actor);
  const taken = await tx.execute(sql`
    SELECT t.taken, ${TENANT_TURNS(sql`t.taken`)}
    FROM (SELECT pg_try_advisory_xact_lock(${CLAIM_LOCK_CLASS}, hashtext(${pool})) AS taken OFFSET 0) t`);
  return taken.rows[0]?.taken === true ? claimInTurn(tx, pool, limit, actor) : null;
}

/**
 * Which queued tasks lease: leases are shared between the pool's tenants by weighted round robin
 * (start-time fair queueing), by priority then age within a tenant. A tenant's k-th candidate
 * starts at max(its finish tag, the pool's virtual time) + (k - 1) / weight; the lowest start
 * tags lease first. So a tenant that has had many leases waits behind one that comes new, by at
 * most the lease in progress, and weights share a busy pool in proportion. Each tenant offers at
 * most as many candidates as there are ready machines, and a tenant with `max_running` no more
 * than its free places (its active tasks in every pool count).
 */
async function claimInTurn(tx: Tx, pool: string, limit: number, actor: string): Promise<Lease[]> {
  const lease = MACHINE_TRANSITIONS.lease;
  const assign = TASK_TRANSITIONS.assign;
  const result = await tx.execute(sql`
    WITH ready AS (
      SELECT id, state_changed_at FROM ${machines}
      WHERE ${machines.pool} = ${pool} AND ${machines.state} = ANY(${sql.param([...lease.from])}::text[])
      ORDER BY ${machines.stateChangedAt}, ${machines.id}
      LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ), supply AS (
      SELECT count(*)::int AS n FROM ready
    ), clock AS (
      SELECT coalesce(max(last_start), 0) AS v FROM ${tenantTurns} WHERE pool = ${pool}
    ), candidates AS (
      SELECT c.id, c.created_at, c.priority, tn.name AS tenant, tn.weight,
        greatest(coalesce(tt.finish, 0), clock.v) + (c.k - 1)::float8 / tn.weight AS start_tag
      FROM ${tenants} tn CROSS JOIN supply CROSS JOIN clock
      LEFT JOIN ${tenantTurns} tt ON tt.pool = ${pool} AND tt.tenant = tn.name
      CROSS JOIN LATERAL (
        SELECT own.*, row_number() OVER (ORDER BY own.priority DESC, own.created_at, own.id) AS k FROM (
          SELECT id, priority, created_at FROM ${tasks}
          WHERE ${tasks.pool} = ${pool} AND ${tasks.tenant} = tn.name AND ${tasks.state} = ANY(${sql.param([...assign.from])}::text[])
          ORDER BY ${tasks.priority} DESC, ${tasks.createdAt}, ${tasks.id}
          LIMIT CASE WHEN tn.max_running IS NULL THEN supply.n
            ELSE least(supply.n, greatest(0, tn.max_running - (SELECT count(*) FROM ${tasks} a WHERE a.tenant = tn.name AND a.state IN ('assigned', 'running')))) END
          FOR UPDATE SKIP LOCKED) own
      ) c
    ), pairs AS (
      SELECT q.id AS task_id, q.tenant, q.weight, q.start_tag, r.id AS machine_id
      FROM (SELECT *, row_number() OVER (ORDER BY start_tag, priority DESC, created_at, id) AS k FROM candidates) q
      JOIN (SELECT id, row_number() OVER (ORDER BY state_changed_at, id) AS k FROM ready) r USING (k)
    ), leased AS (
      UPDATE ${machines} m SET state = ${lease.to}, prev_state = m.state, version = m.version + 1, state_changed_at = now(),
        ${sql.join(LEASE_SET.machine(sql`p.task_id`), sql`, `)}
      FROM pairs p WHERE m.id = p.machine_id AND m.state = ANY(${sql.param([...lease.from])}::text[])
      RETURNING m.*
    ), assigned AS (
      UPDATE ${tasks} t SET state = ${assign.to}, prev_state = t.state, version = t.version + 1, state_changed_at = now(),
        ${sql.join(ASSIGN_SET(sql`p.machine_id`), sql`, `)}
      FROM pairs p WHERE t.id = p.task_id AND t.state = ANY(${sql.param([...assign.from])}::text[])
      RETURNING t.*
    ), turned AS (
      INSERT INTO ${tenantTurns} (pool, tenant, last_start, finish)
      SELECT ${pool}, p.tenant, max(p.start_tag), max(p.start_tag) + 1.0 / min(p.weight) FROM pairs p GROUP BY p.tenant
      ON CONFLICT (pool, tenant) DO UPDATE SET last_start = EXCLUDED.last_start, finish = EXCLUDED.finish
    ), logged AS (
      INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor, reason, peer_id)
      SELECT 'machine', id, pool, prev_state, state, ${actor}, NULL, task_id FROM leased
      UNION ALL
      SELECT 'task', id, pool, prev_state, state, ${actor}, NULL, machine_id FROM assigned
    ), notified AS (
      SELECT pg_notify(${LEASE_CHANNEL}, id::text) FROM leased
    )
    SELECT row_to_json(l) AS machine, row_to_json(a) AS task, (SELECT count(*) FROM notified) AS notified
    FROM leased l FULL JOIN assigned a ON a.machine_id = l.id`);
  const leases = result.rows.map((r) => {
    // Both rows were locked by this statement, so each pair is leased and assigned together.
    if (!r.machine || !r.task) throw new InvariantBreach(`a claim in pool ${pool} leased a machine without its task or the reverse`);
    return { machine: machineEntity.map(r.machine as Record<string, unknown>), task: taskEntity.map(r.task as Record<string, unknown>) };
  });
  reportTransitions('machine', lease.to, leases.length);
  reportTransitions('task', assign.to, leases.length);
  return leases;
}

export interface BecameReady {
  /** The machine after this transaction: ready, leased if a claim took it, or wherever a conflict found it. */
  machine: MachineRow | null;
  /** Leases made for queued tasks of its pool in the same transaction. */
  leases: Lease[];
  /** The pool's claim turn was busy (turn `try`): nothing was claimed, the caller must claim after the commit. */
  deferred: boolean;
}

/**
 * booting | reimaging → ready, and in the same transaction queued tasks of the pool claim ready
 * machines (this one among them): a machine that comes up serves waiting work without a
 * dispatch round trip of its own.
 */
export function becomeReady(db: Db, machineId: string, ip: string | null, claimLimit: number, options: { actor: string; turn?: ClaimTurn }): Promise<BecameReady> {
  return withTransaction(db, async (tx) => {
    const ready = await markReady(tx, machineId, options, ip);
    if (!ready.ok) return { machine: ready.current, leases: [], deferred: false };
    const leases = await claimLeasesIn(tx, ready.row.pool, claimLimit, options.actor, options.turn ?? 'wait');
    const mine = leases?.find((l) => l.machine.id === machineId);
    return { machine: mine ? mine.machine : rowOf(ready), leases: leases ?? [], deferred: leases === null };
  });
}

/**
 * Leases a ready machine to a queued task, or answers null when either is not available now. The
 * `taskId` form leases that task whatever its tenant's turn or limit (tests and tools that need a
 * given lease); the `pool` form is a claim like any other.
 */
export function allocate(db: Db, target: AllocationTarget, actor = 'allocator'): Promise<Lease | null> {
  if ('pool' in target) return withTransaction(db, async (tx) => (await claimLeases(tx, target.pool, 1, actor))[0] ?? null);
  return withTransaction(db, async (tx) => {
    const task = await lockQueuedTask(tx, target.taskId);
    if (!task) return null;
    const machineId = await lockReadyMachine(tx, task.pool);
    if (!machineId) return null;
    const leased = await transitionMachine(tx, machineId, 'lease', { actor, peer: task.id }, { set: LEASE_SET.machine(sql`${task.id}`) });
    const assigned = await transitionTask(tx, task.id, 'assign', { actor, peer: machineId }, { set: ASSIGN_SET(sql`${machineId}`) });
    // Both rows are locked by this transaction, so neither transition can lose.
    if (!leased.ok || !assigned.ok) throw new InvariantBreach(`locked rows changed under allocation of task ${task.id}`);
    return { task: assigned.row, machine: leased.row };
  });
}

async function lockQueuedTask(tx: Tx, taskId: string): Promise<{ id: string; pool: string } | null> {
  const result = await tx.execute(sql`
    SELECT id, pool FROM ${tasks} WHERE ${tasks.state} = 'queued' AND ${tasks.id} = ${taskId}
    LIMIT 1 FOR UPDATE SKIP LOCKED`);
  const row = result.rows[0];
  return row ? { id: String(row.id), pool: String(row.pool) } : null;
}

async function lockReadyMachine(tx: Tx, pool: string): Promise<string | null> {
  const result = await tx.execute(sql`
    SELECT id FROM ${machines} WHERE ${machines.pool} = ${pool} AND ${machines.state} = 'ready'
    ORDER BY ${machines.stateChangedAt}, ${machines.id}
    LIMIT 1 FOR UPDATE SKIP LOCKED`);
  const row = result.rows[0];
  return row ? String(row.id) : null;
}
