// Submission: choose the pool, write the task (an upsert on the idempotency key) and, in the
// same transaction, let queued tasks of the pool claim its ready machines; the leases made get
// their run jobs. A request no active pool can serve is refused here, never left queued.
import { createHash } from 'node:crypto';
import type { Db, Tx } from '../db/database.js';
import type { PoolRow, TaskRow } from '../db/schema.js';
import { DEFAULT_TENANT, type Platform } from '../db/states.js';
import { withTransaction } from '../db/transaction.js';
import { claimLeasesIn, listPools, submitTask, tenantQueue, type Lease } from '../machinery/index.js';
import { startRuns } from './dispatcher.js';
import type { JobSink, RunJob } from './queue.js';

export interface SubmitRequest {
  pool?: string | undefined;
  platform?: Platform | undefined;
  tags?: string[] | undefined;
  payload: Record<string, unknown>;
  priority?: number | undefined;
  timeoutS?: number | undefined;
  maxAttempts?: number | undefined;
}

/** No active pool matches the request; `reason` says which part did not match. */
export class Unserviceable extends Error {
  override readonly name = 'Unserviceable';
}

/**
 * The idempotency key names a task submitted with a different request. The message names the
 * task, not the key: answers and CLI errors end up in clients' logs, and the key is the
 * client's to keep (it is stored in tasks.idempotency_key only).
 */
export class IdempotencyConflict extends Error {
  override readonly name = 'IdempotencyConflict';
  constructor(
    readonly key: string,
    readonly taskId: string,
  ) {
    super(`the idempotency key was already used for task ${taskId} with a different request`);
  }
}

/** The tenant already has `max_queued` tasks queued: nothing was written; retry once some have leased. */
export class TenantLimit extends Error {
  override readonly name = 'TenantLimit';
  constructor(
    readonly tenant: string,
    readonly maxQueued: number,
  ) {
    super(`tenant "${tenant}" has ${maxQueued} tasks queued, its max_queued; submit again once some have started`);
  }
}

/** What a client should wait before retrying a submission refused by its tenant's queue limit. */
export const TENANT_LIMIT_RETRY_AFTER_S = 10;

export interface SubmitResult {
  task: TaskRow;
  /** False for a replay of the same key and request, which returns the existing task. */
  created: boolean;
}

/** Where the pool rows come from: the daemon's cache, or the table (the CLI). */
export interface PoolSource {
  all(): Promise<PoolRow[]>;
}

/** A submission claims at most this many leases for its pool (its own task, or older ones first). */
const CLAIMS_PER_SUBMISSION = 16;

export interface SubmitOptions {
  idempotencyKey?: string | undefined;
  actor?: string;
  /** Whose task it is and its queue limit; without it, the default tenant's, unlimited. */
  tenant?: { name: string; maxQueued: number | null };
  pools?: PoolSource | undefined;
  /** A daemon's claims after commit (see DeferredClaims). */
  claimLater?: ((pool: PoolRow) => Promise<readonly Lease[]>) | undefined;
}

/**
 * Records a task and claims for its pool in the same transaction. With `claimLater` (a daemon)
 * a busy claim turn is not waited for inside the transaction: the claim is made right after the
 * commit (folded with others', DeferredClaims), and the answer says what it gave this task.
 */
export async function submit(db: Db, runs: JobSink<RunJob>, request: SubmitRequest, options: SubmitOptions = {}): Promise<SubmitResult> {
  const { idempotencyKey, actor = 'api', pools, claimLater } = options;
  const tenant = options.tenant ?? { name: DEFAULT_TENANT, maxQueued: null };
  const pool = choosePool(await (pools ? pools.all() : listPools(db)), request);
  const requestHash = hashRequest(request);
  const { submission, leases } = await withTransaction(db, async (tx) => {
    if (tenant.maxQueued !== null) await admit(tx, tenant.name, tenant.maxQueued, idempotencyKey ?? null);
    const submission = await submitTask(tx, { ...taskInput(pool, request, idempotencyKey, requestHash), tenant: tenant.name }, { actor });
    if (!submission.created && submission.task.requestHash !== requestHash) throw new IdempotencyConflict(idempotencyKey ?? '', submission.task.id);
    // Also on a replay: a queued task is offered the pool's ready machines again.
    const leases = submission.task.state === 'queued' ? await claimLeasesIn(tx, pool.name, CLAIMS_PER_SUBMISSION, 'allocator', claimLater ? 'try' : 'wait') : [];
    return { submission, leases };
  });
  await startRuns(runs, pool, leases ?? []);
  // A busy turn: the claim after the commit (run jobs included) says whether this task got a machine.
  const claimed = leases ?? (claimLater ? await claimLater(pool) : []);
  const own = claimed.find((l) => l.task.id === submission.task.id);
  return { task: own ? own.task : submission.task, created: submission.created };
}

/** Refuses a new task past the tenant's queue limit (a replay of a key is never refused). */
async function admit(tx: Tx, tenant: string, maxQueued: number, idempotencyKey: string | null): Promise<void> {
  const queue = await tenantQueue(tx, tenant, idempotencyKey);
  if (!queue.replay && queue.queued >= maxQueued) throw new TenantLimit(tenant, maxQueued);
}

function taskInput(pool: PoolRow, request: SubmitRequest, idempotencyKey: string | undefined, requestHash: string) {
  return {
    pool: pool.name,
    platform: request.platform ?? null,
    tags: request.tags ?? [],
    payload: request.payload,
    priority: request.priority ?? 50,
    timeoutS: request.timeoutS ?? 3600,
    maxAttempts: request.maxAttempts ?? 3,
    idempotencyKey: idempotencyKey ?? null,
    requestHash,
  };
}

/**
 * The pool a request goes to: the named one, or among active pools matching the selector
 * (platform, and every requested tag) the largest (max_size), then by name.
 */
export function choosePool(pools: PoolRow[], request: Pick<SubmitRequest, 'pool' | 'platform' | 'tags'>): PoolRow {
  const wanted = request.tags ?? [];
  const fits = (p: PoolRow) => (request.platform === undefined || p.platform === request.platform) && wanted.every((t) => p.tags.includes(t));
  if (request.pool !== undefined) {
    const named = pools.find((p) => p.name === request.pool);
    if (!named || !named.active) throw new Unserviceable(`no active pool named "${request.pool}" (${activePools(pools)})`);
    if (!fits(named)) throw new Unserviceable(`pool "${named.name}" does not match platform ${request.platform ?? 'any'} and tags [${wanted.join(', ')}]`);
    if (named.maxSize === 0) throw new Unserviceable(`pool "${named.name}" has max_size 0`);
    return named;
  }
  const candidates = pools.filter((p) => p.active && p.maxSize > 0 && fits(p)).sort((a, b) => b.maxSize - a.maxSize || a.name.localeCompare(b.name));
  const chosen = candidates[0];
  if (!chosen) throw new Unserviceable(`no active pool serves platform ${request.platform ?? 'any'} with tags [${wanted.join(', ')}]`);
  return chosen;
}

/** What a caller could have named instead. */
function activePools(pools: PoolRow[]): string {
  const names = pools.filter((p) => p.active).map((p) => p.name).sort();
  return names.length > 0 ? `active pools: ${names.join(', ')}` : 'no pool is active';
}

/** A stable digest of what was asked, to tell a replay from a different request on the same key. */
export function hashRequest(request: SubmitRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
