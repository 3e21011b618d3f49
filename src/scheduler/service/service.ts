// The operations people and programs perform, shared by the REST API and the CLI (which runs
// them straight against Postgres, daemon or not). Every read and write goes through src/machinery.
import type { Queue } from 'bullmq';
import type { PoolRow, TaskRow } from '../../db/schema.js';
import type { Db } from '../../db/database.js';
import { DEFAULT_TENANT, type MachineState, type TaskState } from '../../db/states.js';
import { cancelTask, getMachine, getPool, getTask, getTenant, listMachines, listPools, listTasks, listTenants, machineCounts, machineEvents, poolLoad, type Lease } from '../../machinery/index.js';
import { desiredSize } from '../autoscaler.js';
import { drain } from '../drain.js';
import { enqueueMachine } from '../supervisor.js';
import type { JobSink, MachineJob, RunJob } from '../queue.js';
import { submit, type PoolSource, type SubmitRequest } from '../submission.js';
import { InvalidCursor, MachineBusy, NotFound, TenantHidden, UnknownTenant } from './errors.js';
import { eventView, machineView, poolView, taskView, type EventView, type MachineView, type PoolView, type TaskView } from './views.js';

/** Whose work a caller submits and which tasks it may see. */
export interface Scope {
  /** The tenant its submissions belong to, with that tenant's queue limit (null: none). */
  tenant: { name: string; maxQueued: number | null };
  /** Only this tenant's tasks exist for the caller (a submitter token); null: every tenant's. */
  only: string | null;
}

/** Every tenant's tasks, submitting as `default`: the CLI, which works on the database as an operator, and the demo. */
export const OPERATOR_SCOPE: Scope = { tenant: { name: DEFAULT_TENANT, maxQueued: null }, only: null };

/** Submitting as the named tenant under its queue limit, seeing every tenant's tasks (the CLI). */
export async function operatorScopeAs(db: Db, tenant: string): Promise<Scope> {
  const row = await getTenant(db, tenant);
  if (!row) throw new UnknownTenant(tenant, (await listTenants(db)).map((t) => t.name));
  return { tenant: { name: row.name, maxQueued: row.maxQueued }, only: null };
}

export interface ServiceContext {
  db: Db;
  scope: Scope;
  queues: { runs: JobSink<RunJob>; machines: Queue<MachineJob> };
  /** Pool rows from the daemon's cache; without it, from the table. */
  pools?: PoolSource;
  /** Who acts, in the event log: `api:<token name>#<token id>`, `cli:<user>`. */
  actor: string;
  /** A daemon's claims after commit (see DeferredClaims); without it a submission waits for its pool's claim turn. */
  claimLater?: (pool: PoolRow) => Promise<readonly Lease[]>;
}

export interface TaskPage {
  items: TaskView[];
  next_cursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function submitTask(ctx: ServiceContext, request: SubmitRequest, idempotencyKey?: string): Promise<{ task: TaskView; created: boolean }> {
  const { task, created } = await submit(ctx.db, ctx.queues.runs, request, { idempotencyKey, actor: ctx.actor, tenant: ctx.scope.tenant, pools: ctx.pools, claimLater: ctx.claimLater });
  return { task: taskView(task), created };
}

export async function showTask(ctx: ServiceContext, id: string): Promise<TaskView> {
  return taskView(await visibleTask(ctx, id));
}

/** The task, if it exists for this caller: another tenant's task is as absent as one never made. */
async function visibleTask(ctx: ServiceContext, id: string): Promise<TaskRow> {
  const task = UUID.test(id) ? await getTask(ctx.db, id) : null;
  if (!task || !sees(ctx.scope, task.tenant)) throw new NotFound('task', id);
  return task;
}

const sees = (scope: Scope, tenant: string) => scope.only === null || scope.only === tenant;

/** A page of tasks, newest first; a submitter's pages hold its tenant's tasks only, and asking for another tenant's is refused. */
export async function listTaskPage(ctx: ServiceContext, filter: { state?: TaskState; pool?: string; tenant?: string; limit: number; cursor?: string }): Promise<TaskPage> {
  if (filter.tenant !== undefined && !sees(ctx.scope, filter.tenant)) throw new TenantHidden(filter.tenant);
  let after: string | undefined;
  if (filter.cursor !== undefined) {
    after = Buffer.from(filter.cursor, 'base64url').toString('utf8');
    const from = UUID.test(after) ? await getTask(ctx.db, after) : null;
    if (!from || !sees(ctx.scope, from.tenant)) throw new InvalidCursor();
  }
  const tenant = ctx.scope.only ?? filter.tenant;
  const rows = await listTasks(ctx.db, { state: filter.state, pool: filter.pool, tenant, limit: filter.limit + 1, after });
  const items = rows.slice(0, filter.limit).map(taskView);
  const last = items.at(-1);
  return { items, next_cursor: rows.length > filter.limit && last ? Buffer.from(last.id).toString('base64url') : null };
}

/** Idempotent: a terminal task comes back unchanged. A running task's machine begins to stop at once. */
export async function cancel(ctx: ServiceContext, id: string): Promise<TaskView> {
  await visibleTask(ctx, id);
  const result = await cancelTask(ctx.db, id, { actor: ctx.actor, reason: 'canceled' });
  if (result.kind === 'not_found') throw new NotFound('task', id);
  // The machine it ran on begins to stop; its teardown is queued here, since an agent pool has
  // no run job in the daemon to notice (for the others this repeats what the run job does).
  if (result.kind === 'ended' && result.task.prevState !== 'queued' && result.task.machineId) await enqueueMachine(ctx, 'resume', result.task.machineId);
  return taskView(result.task);
}

export async function machinesOf(ctx: ServiceContext, filter: { pool?: string; state?: MachineState }): Promise<MachineView[]> {
  const providers = await providerOfPools(ctx.db);
  const rows = await listMachines(ctx.db, { pool: filter.pool, states: filter.state ? [filter.state] : undefined });
  return rows.map((m) => machineView(m, providers.get(m.pool) ?? 'unknown'));
}

/** One machine with its recent events (the log outlives the row: a deleted machine still shows its history). */
export async function showMachine(ctx: ServiceContext, id: string, eventLimit = 50): Promise<MachineView & { events: EventView[] }> {
  const machine = UUID.test(id) ? await getMachine(ctx.db, id) : null;
  if (!machine) throw new NotFound('machine', id);
  const pool = await getPool(ctx.db, machine.pool);
  return { ...machineView(machine, pool?.provider ?? 'unknown'), events: (await machineEvents(ctx.db, id, eventLimit)).map(eventView) };
}

export async function drainOne(ctx: ServiceContext, id: string, options: { afterTask: boolean }): Promise<MachineView> {
  if (!UUID.test(id)) throw new NotFound('machine', id);
  const result = await drain(ctx, id, { afterTask: options.afterTask, reason: `drained by ${ctx.actor}` });
  if (result.kind === 'not_found') throw new NotFound('machine', id);
  if (result.kind === 'refused') throw new MachineBusy(id, result.machine.state);
  const pool = await getPool(ctx.db, result.machine.pool);
  return machineView(result.machine, pool?.provider ?? 'unknown');
}

export async function poolSummaries(ctx: ServiceContext): Promise<PoolView[]> {
  const counts = await machineCounts(ctx.db);
  const views: PoolView[] = [];
  for (const pool of await listPools(ctx.db)) {
    const byState = Object.fromEntries(counts.filter((c) => c.pool === pool.name).map((c) => [c.state, c.count]));
    const load = await poolLoad(ctx.db, pool);
    views.push(poolView(pool, byState, load.queued + (load.held ?? 0), desiredSize(pool, load)));
  }
  return views;
}

async function providerOfPools(db: Db): Promise<Map<string, string>> {
  return new Map((await listPools(db)).map((p) => [p.name, p.provider]));
}
