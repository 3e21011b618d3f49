// The tables (docs/architecture.md §2). drizzle-kit generates migrations/ from this file.
import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import {
  DEFAULT_TENANT,
  MACHINE_HOLDING_STATES,
  MACHINE_STATES,
  PLATFORMS,
  PROVIDERS,
  RECYCLE_MODES,
  TASK_ACTIVE_STATES,
  TASK_TERMINAL_STATES,
  TASK_OUTCOMES,
  TASK_STATES,
  TOKEN_ROLES,
} from './states.js';

/** `('a', 'b')` for a CHECK or partial-index predicate; the lists are constants, never input. */
const list = (values: readonly string[]) => sql.raw(`(${values.map((v) => `'${v}'`).join(', ')})`);

export const pools = pgTable(
  'pools',
  {
    name: text().primaryKey(),
    provider: text().notNull(),
    settings: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    platform: text().notNull().default('linux'),
    arch: text().notNull().default('x86_64'),
    tags: text().array().notNull().default(sql`'{}'::text[]`),
    minReady: integer('min_ready').notNull().default(0),
    maxSize: integer('max_size').notNull(),
    // null: a machine serves tasks until it is retired for another reason.
    maxUses: integer('max_uses'),
    idleTimeoutS: integer('idle_timeout_s').notNull().default(600),
    recycle: text().notNull().default('delete'),
    // How tasks run on the pool's machines: `{ kind: 'sim', ... }` or `{ kind: 'command', ... }`.
    runner: jsonb().$type<Record<string, unknown>>().notNull().default({ kind: 'sim' }),
    // When a booted machine counts as ready: `{ bootTimeoutS, probe?: { kind: 'tcp' | 'http', ... } }`.
    readiness: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    // How the pool is scaled: `{ policy, ...its settings }` (src/scheduler/policies/registry.ts); `{}` is the default policy.
    autoscale: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    // What one machine of the pool costs per hour (the on-demand or the spot price, whichever the pool buys); null when not given.
    pricePerHour: doublePrecision('price_per_hour'),
    // A pool that left the config keeps its row (machines reference it) but gets no new capacity.
    active: boolean().notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('pools_provider_check', sql`${t.provider} IN ${list(PROVIDERS)}`),
    check('pools_platform_check', sql`${t.platform} IN ${list(PLATFORMS)}`),
    check('pools_recycle_check', sql`${t.recycle} IN ${list(RECYCLE_MODES)}`),
    check(
      'pools_sizes_check',
      sql`${t.minReady} >= 0 AND ${t.maxSize} >= 0 AND ${t.minReady} <= ${t.maxSize} AND (${t.maxUses} IS NULL OR ${t.maxUses} >= 1) AND ${t.idleTimeoutS} >= 0 AND (${t.pricePerHour} IS NULL OR ${t.pricePerHour} >= 0)`,
    ),
  ],
);

export const machines = pgTable(
  'machines',
  {
    id: uuid().primaryKey(),
    name: text().notNull(),
    pool: text()
      .notNull()
      .references(() => pools.name),
    providerId: text('provider_id'),
    ip: text(),
    state: text().notNull(),
    // The state this row left at its last transition; lets one statement log from → to.
    prevState: text('prev_state'),
    version: integer().notNull().default(1),
    uses: integer().notNull().default(0),
    taskId: uuid('task_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    stateChangedAt: timestamp('state_changed_at', { withTimezone: true }).notNull().defaultNow(),
    lastError: text('last_error'),
    /** Set by a drain (scale-down, operator): after release the machine is deleted, never reimaged. */
    retireRequested: boolean('retire_requested').notNull().default(false),
    /**
     * The launch this machine was reserved in: machines reserved together are created by one
     * cloud request (idempotent on the launch id), and the instance at launch_index is this one's.
     */
    launchId: uuid('launch_id'),
    launchIndex: integer('launch_index'),
    launchSize: integer('launch_size'),
  },
  (t) => [
    uniqueIndex('machines_name_key').on(t.name),
    uniqueIndex('machines_pool_provider_id_key').on(t.pool, t.providerId),
    // A task is leased to at most one machine.
    uniqueIndex('machines_task_id_key').on(t.taskId).where(sql`${t.taskId} IS NOT NULL`),
    // Allocation: the oldest ready machine of a pool.
    index('machines_ready_idx').on(t.pool, t.stateChangedAt).where(sql`${t.state} = 'ready'`),
    index('machines_pool_state_idx').on(t.pool, t.state),
    check(
      'machines_state_check',
      sql`${t.state} IN ${list(MACHINE_STATES)}`,
    ),
    check('machines_uses_check', sql`${t.uses} >= 0`),
    check(
      'machines_launch_check',
      sql`num_nulls(${t.launchId}, ${t.launchIndex}, ${t.launchSize}) IN (0, 3) AND (${t.launchIndex} IS NULL OR ${t.launchIndex} BETWEEN 0 AND ${t.launchSize} - 1)`,
    ),
    // Only a machine between lease and release holds a task.
    check(
      'machines_task_state_check',
      sql`${t.taskId} IS NULL OR ${t.state} IN ${list(MACHINE_HOLDING_STATES)}`,
    ),
  ],
);

/**
 * Tenants: whose work a token submits and sees. Declared in the config (`tenants:`) and synced
 * here by upsert; `default` exists always (tokens and tasks from before tenants belong to it).
 */
export const tenants = pgTable(
  'tenants',
  {
    name: text().primaryKey(),
    // Its share of a pool's leases against other tenants with queued work (weighted round robin).
    weight: integer().notNull().default(1),
    // Submissions past this many queued tasks are refused (429); null: no limit.
    maxQueued: integer('max_queued'),
    // At most this many of its tasks hold machines at once; the rest wait queued. Null: no limit.
    maxRunning: integer('max_running'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('tenants_weight_check', sql`${t.weight} BETWEEN 1 AND 1000`),
    check('tenants_limits_check', sql`coalesce(${t.maxQueued}, 0) >= 0 AND coalesce(${t.maxRunning}, 0) >= 0`),
  ],
);

/**
 * Where each tenant stands in a pool's round robin (start-time fair queueing): the start tag of
 * its last lease and its finish tag (start + 1/weight). The pool's virtual time is the highest
 * start tag leased; written only by claims, which hold the pool's claim turn.
 */
export const tenantTurns = pgTable(
  'tenant_turns',
  {
    pool: text()
      .notNull()
      .references(() => pools.name),
    tenant: text()
      .notNull()
      .references(() => tenants.name),
    lastStart: doublePrecision('last_start').notNull(),
    finish: doublePrecision().notNull(),
  },
  (t) => [primaryKey({ columns: [t.pool, t.tenant] })],
);

export const tasks = pgTable(
  'tasks',
  {
    id: uuid().primaryKey(),
    tenant: text()
      .notNull()
      .default(DEFAULT_TENANT)
      .references(() => tenants.name),
    idempotencyKey: text('idempotency_key'),
    // Hash of the submitted request, so a replayed key with another body is told apart.
    requestHash: text('request_hash'),
    pool: text()
      .notNull()
      .references(() => pools.name),
    platform: text(),
    tags: text().array().notNull().default(sql`'{}'::text[]`),
    payload: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    priority: integer().notNull().default(50),
    timeoutS: integer('timeout_s').notNull().default(3600),
    attempts: integer().notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    state: text().notNull(),
    prevState: text('prev_state'),
    version: integer().notNull().default(1),
    // The machine of the current (or last) attempt; history, so no foreign key.
    machineId: uuid('machine_id'),
    // The runner's verdict, written when the machine is stopped and applied at release.
    outcome: text(),
    result: jsonb().$type<unknown>(),
    error: text(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    stateChangedAt: timestamp('state_changed_at', { withTimezone: true }).notNull().defaultNow(),
    assignedAt: timestamp('assigned_at', { withTimezone: true }),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    // Agent pools: the last heartbeat of the lease's agent, written at most once per refresh interval.
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }),
  },
  (t) => [
    // Idempotency keys are a tenant's own: another tenant's key neither collides nor reveals a task.
    uniqueIndex('tasks_tenant_idempotency_key_key').on(t.tenant, t.idempotencyKey),
    // One active task per machine (I2).
    uniqueIndex('tasks_active_machine_key')
      .on(t.machineId)
      .where(sql`${t.state} IN ${list(TASK_ACTIVE_STATES)}`),
    // Allocation: each tenant's queued tasks of a pool by priority, then age.
    index('tasks_queued_idx')
      .on(t.pool, t.tenant, t.priority.desc(), t.createdAt, t.id)
      .where(sql`${t.state} = 'queued'`),
    index('tasks_created_idx').on(t.createdAt.desc(), t.id.desc()),
    // A submitter lists its tenant's tasks, newest first.
    index('tasks_tenant_created_idx').on(t.tenant, t.createdAt.desc(), t.id.desc()),
    // Tenant limits count a tenant's queued and active tasks.
    index('tasks_tenant_open_idx')
      .on(t.tenant, t.state)
      .where(sql`${t.state} IN ${list(['queued', ...TASK_ACTIVE_STATES])}`),
    // Retention prunes the oldest finished tasks first.
    index('tasks_finished_idx')
      .on(t.finishedAt)
      .where(sql`${t.state} IN ${list(TASK_TERMINAL_STATES)}`),
    // The leader's watchdog reads a pool's active tasks every tick: never a scan of the whole history.
    index('tasks_active_pool_idx')
      .on(t.pool)
      .where(sql`${t.state} IN ${list(TASK_ACTIVE_STATES)}`),
    check(
      'tasks_state_check',
      sql`${t.state} IN ${list(TASK_STATES)}`,
    ),
    check('tasks_outcome_check', sql`${t.outcome} IS NULL OR ${t.outcome} IN ${list(TASK_OUTCOMES)}`),
    check('tasks_priority_check', sql`${t.priority} BETWEEN 0 AND 100`),
    check('tasks_attempts_check', sql`${t.attempts} >= 0 AND ${t.maxAttempts} >= 1`),
  ],
);

export const events = pgTable(
  'events',
  {
    id: bigserial({ mode: 'bigint' }).primaryKey(),
    entity: text().notNull(),
    entityId: uuid('entity_id').notNull(),
    pool: text(),
    fromState: text('from_state'),
    toState: text('to_state').notNull(),
    actor: text().notNull(),
    reason: text(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
    // The other side of a lease, written by the claim: on a task's event the machine it was
    // assigned, on a machine's event the task it was leased to. Later events of the lease name
    // neither; reads carry it forward (src/machinery/histories.ts).
    peerId: uuid('peer_id'),
    // What a machine's deletion event keeps of the row it removes (name, provider id, uses, last
    // error), so a deleted machine can still be shown from its history.
    detail: jsonb().$type<Record<string, unknown>>(),
  },
  (t) => [
    index('events_entity_idx').on(t.entityId, t.id),
    // The invariant checker and per-pool views read a pool's log in order.
    index('events_pool_idx').on(t.pool, t.id),
    check('events_entity_check', sql`${t.entity} IN ${list(['machine', 'task'])}`),
  ],
);

/**
 * Token buckets for the rate limit per provider account, shared by every daemon: `tokens` as of
 * `updated_at`, refilled on read. One row per account; taking a token is one conditional upsert.
 */
export const rateBuckets = pgTable('rate_buckets', {
  account: text().primaryKey(),
  tokens: doublePrecision().notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** API bearer tokens: only a SHA-256 of the secret is stored; the token is shown once, at creation. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid().primaryKey(),
    name: text().notNull(),
    role: text().notNull(),
    // A submitter sees and submits only its tenant's work; operators and admins see every tenant's.
    tenant: text()
      .notNull()
      .default(DEFAULT_TENANT)
      .references(() => tenants.name),
    hash: text().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** Past this the token is refused (401, saying it expired); null: it never expires. */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('api_tokens_hash_key').on(t.hash), check('api_tokens_role_check', sql`${t.role} IN ${list(TOKEN_ROLES)}`)],
);

/**
 * The key that signs machine credentials for agents (HMAC of the machine id): a credential can
 * be derived again after a crash between create and record, so nothing per machine is stored.
 */
export const agentKeys = pgTable('agent_keys', {
  id: text().primaryKey(),
  key: text().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The daemons that serve this database, each with its cluster: a heartbeat says which are alive,
 * and tools run without the daemon's config (`sandfleet check`) learn the cluster from here.
 */
export const daemons = pgTable('daemons', {
  id: uuid().primaryKey(),
  cluster: text().notNull(),
  host: text().notNull(),
  pid: integer().notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  seenAt: timestamp('seen_at', { withTimezone: true }).notNull().defaultNow(),
  stoppedAt: timestamp('stopped_at', { withTimezone: true }),
});

export type PoolRow = typeof pools.$inferSelect;
export type MachineRow = typeof machines.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type TenantRow = typeof tenants.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
