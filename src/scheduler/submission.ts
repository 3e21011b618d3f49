// Submission: choose the pool, write the task (an upsert on the idempotency key), enqueue its
// job (jobId = task id). A request no active pool can serve is refused here, never left queued.
import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Db } from '../db/database.js';
import type { PoolRow, TaskRow } from '../db/schema.js';
import type { Platform } from '../db/states.js';
import { listPools, submitTask } from '../machinery/index.js';
import { taskJobOptions, type TaskJob } from './queue.js';

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

/** The idempotency key names a task submitted with a different request. */
export class IdempotencyConflict extends Error {
  override readonly name = 'IdempotencyConflict';
  constructor(
    readonly key: string,
    readonly taskId: string,
  ) {
    super(`idempotency key ${key} was already used for task ${taskId} with a different request`);
  }
}

export interface SubmitResult {
  task: TaskRow;
  /** False for a replay of the same key and request, which returns the existing task. */
  created: boolean;
}

export async function submit(db: Db, queue: Queue<TaskJob>, request: SubmitRequest, idempotencyKey?: string, actor = 'api'): Promise<SubmitResult> {
  const pool = choosePool(await listPools(db), request);
  const requestHash = hashRequest(request);
  const { task, created } = await submitTask(
    db,
    {
      pool: pool.name,
      platform: request.platform ?? null,
      tags: request.tags ?? [],
      payload: request.payload,
      priority: request.priority ?? 50,
      timeoutS: request.timeoutS ?? 3600,
      maxAttempts: request.maxAttempts ?? 3,
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
    },
    { actor },
  );
  if (!created && task.requestHash !== requestHash) throw new IdempotencyConflict(idempotencyKey ?? '', task.id);
  // Also on a replay: if the first submission died between the insert and the enqueue, this
  // repairs it; if not, the same job id makes it a no-op.
  if (task.state === 'queued') await queue.add('run', { taskId: task.id }, taskJobOptions(task.id, task.priority));
  return { task, created };
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
    if (!named || !named.active) throw new Unserviceable(`no active pool named "${request.pool}"`);
    if (!fits(named)) throw new Unserviceable(`pool "${named.name}" does not match platform ${request.platform ?? 'any'} and tags [${wanted.join(', ')}]`);
    if (named.maxSize === 0) throw new Unserviceable(`pool "${named.name}" has max_size 0`);
    return named;
  }
  const candidates = pools.filter((p) => p.active && p.maxSize > 0 && fits(p)).sort((a, b) => b.maxSize - a.maxSize || a.name.localeCompare(b.name));
  const chosen = candidates[0];
  if (!chosen) throw new Unserviceable(`no active pool serves platform ${request.platform ?? 'any'} with tags [${wanted.join(', ')}]`);
  return chosen;
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
