// The operations people and programs perform, shared by the REST API and the CLI (which runs
// them straight against Postgres, daemon or not). Every read and write goes through src/machinery.
import type { Queue } from 'bullmq';
import type { PoolRow, TaskRow } from '../../db/schema.js';
import type { Db } from '../../db/database.js';
import { DEFAULT_TENANT, type MachineState, type TaskState } from '../../db/states.js';
import {
  cancelTask,
  getMachine,
  getPool,
  getTask,
  getTenant,
  historyPage,
  listMachinePage,
  listPoolPage,
  listPools,
  listTasks,
  listTenants,
  liveDaemonCount,
  machineCounts,
  machineRecord,
  poolLoad,
  tasksLeasedTo,
  waitingReasons,
  type Lease,
} from '../../machinery/index.js';
import { desiredSize } from '../autoscaler.js';
import { drain } from '../drain.js';
import { enqueueMachine } from '../supervisor.js';
import type { JobSink, MachineJob, RunJob } from '../queue.js';
import { submit, type PoolSource, type SubmitRequest } from '../submission.js';
import { InvalidCursor, MachineBusy, NotFound, TenantHidden, UnknownTenant } from './errors.js';
import { pageOf, timeCursor, nameCursor, type Page, type PageRequest } from './pages.js';
import { deletedMachineView, eventView, machineView, poolView, taskStatusView, taskView, type MachineDetailView, type MachineView, type PoolView, type TaskStatusView, type TaskView } from './views.js';

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
  /** `scheduler.max_machines_total` when the caller's config sets one: waiting reasons can then say `global-cap`. */
  maxMachinesTotal?: number;
}

export type TaskPage = Page<TaskStatusView>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function submitTask(ctx: ServiceContext, request: SubmitRequest, idempotencyKey?: string): Promise<{ task: TaskView; created: boolean }> {
  const { task, created } = await submit(ctx.db, ctx.queues.runs, request, { idempotencyKey, actor: ctx.actor, tenant: ctx.scope.tenant, pools: ctx.pools, claimLater: ctx.claimLater });
  return { task: taskView(task), created };
}

export async function showTask(ctx: ServiceContext, id: string): Promise<TaskStatusView> {
  return (await withWaitingReasons(ctx, [await visibleTask(ctx, id)]))[0]!;
}

/** Task views with the waiting reason of those queued: one statement for all of them, none when none is queued. */
async function withWaitingReasons(ctx: ServiceContext, rows: readonly TaskRow[]): Promise<TaskStatusView[]> {
  const queued = rows.filter((t) => t.state === 'queued').map((t) => t.id);
  const reasons = await waitingReasons(ctx.db, queued, { maxMachinesTotal: ctx.maxMachinesTotal });
  return rows.map((t) => taskStatusView(t, reasons.get(t.id) ?? null));
}

/** The task, if it exists for this caller: another tenant's task is as absent as one never made. */
export async function visibleTask(ctx: ServiceContext, id: string): Promise<TaskRow> {
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
  const kept = rows.slice(0, filter.limit);
  const last = kept.at(-1);
  return { items: await withWaitingReasons(ctx, kept), next_cursor: rows.length > filter.limit && last ? Buffer.from(last.id).toString('base64url') : null };
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

/** A page of machines, oldest first. */
export async function machinesOf(ctx: ServiceContext, filter: { pool?: string | undefined; state?: MachineState | undefined } & PageRequest): Promise<Page<MachineView>> {
  const providers = await providerOfPools(ctx.db);
  const rows = await listMachinePage(ctx.db, { pool: filter.pool, states: filter.state ? [filter.state] : undefined, limit: filter.limit + 1, after: timeCursor.read(filter.cursor) });
  return pageOf(rows, filter.limit, ({ row }) => machineView(row, providers.get(row.pool) ?? 'unknown'), ({ key }) => timeCursor.of(key));
}

/** Events and tasks a machine's detail shows; the events endpoint pages through the rest. */
const MACHINE_DETAIL_LIMIT = 50;

/**
 * One machine with the tasks it ran and its latest events. The log outlives the row: a deleted
 * machine is answered from its events, as `deleted`; an id no event names is not found.
 */
export async function showMachine(ctx: ServiceContext, id: string): Promise<MachineDetailView> {
  if (!UUID.test(id)) throw new NotFound('machine', id);
  const machine = await getMachine(ctx.db, id);
  const record = machine ? null : await machineRecord(ctx.db, id);
  if (!machine && !record) throw new NotFound('machine', id);
  const pool = await getPool(ctx.db, machine?.pool ?? record!.pool);
  const provider = pool?.provider ?? 'unknown';
  const tasks = await tasksLeasedTo(ctx.db, id, MACHINE_DETAIL_LIMIT);
  const events = (await historyPage(ctx.db, id, { limit: MACHINE_DETAIL_LIMIT })).reverse().map(eventView);
  const fields = machine ? { ...machineView(machine, provider), deleted_at: null } : deletedMachineView(record!, provider);
  return { ...fields, tasks, events };
}

export async function drainOne(ctx: ServiceContext, id: string, options: { afterTask: boolean }): Promise<MachineView> {
  if (!UUID.test(id)) throw new NotFound('machine', id);
  const result = await drain(ctx, id, { afterTask: options.afterTask, reason: `drained by ${ctx.actor}` });
  if (result.kind === 'not_found') throw new NotFound('machine', id);
  if (result.kind === 'refused') throw new MachineBusy(id, result.machine.state);
  const pool = await getPool(ctx.db, result.machine.pool);
  return machineView(result.machine, pool?.provider ?? 'unknown');
}

/** A page of pools by name, and how many daemons are alive to serve them (none: nothing scales or claims). */
export async function poolSummaries(ctx: ServiceContext, page: PageRequest): Promise<Page<PoolView> & { live_daemons: number }> {
  const rows = await listPoolPage(ctx.db, { limit: page.limit + 1, after: nameCursor.read(page.cursor) });
  const counts = await machineCounts(ctx.db);
  const views = new Map<string, PoolView>();
  for (const pool of rows.slice(0, page.limit)) {
    const byState = Object.fromEntries(counts.filter((c) => c.pool === pool.name).map((c) => [c.state, c.count]));
    const load = await poolLoad(ctx.db, pool);
    views.set(pool.name, poolView(pool, byState, load.queued + (load.held ?? 0), desiredSize(pool, load)));
  }
  const summaries = pageOf(rows, page.limit, (pool) => views.get(pool.name)!, (pool) => nameCursor.of(pool.name));
  return { ...summaries, live_daemons: await liveDaemonCount(ctx.db) };
}

async function providerOfPools(db: Db): Promise<Map<string, string>> {
  return new Map((await listPools(db)).map((p) => [p.name, p.provider]));
}
