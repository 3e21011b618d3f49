// The public shapes of docs/api.md: what the REST API returns and the CLI prints with --json.
import type { MachineRow, PoolRow, TaskRow } from '../../db/schema.js';
import { stepOf, type DaemonStatus, type HistoryEvent, type MachineRecord, type WaitingReason } from '../../machinery/index.js';
import { autoscalePolicyName } from '../policies/registry.js';

export interface TaskView {
  id: string;
  tenant: string;
  state: string;
  pool: string;
  platform: string | null;
  tags: string[];
  priority: number;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  timeout_s: number;
  machine_id: string | null;
  result: unknown;
  error: string | null;
  created_at: string;
  assigned_at: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface MachineView {
  id: string;
  name: string;
  pool: string;
  provider: string;
  provider_id: string | null;
  state: string;
  ip: string | null;
  uses: number;
  task_id: string | null;
  created_at: string;
  state_changed_at: string;
  last_error: string | null;
}

/** A task as reads show it: with why it waits, while it is queued. */
export interface TaskStatusView extends TaskView {
  /** Why a queued task is still queued (docs/api.md §4); null when it is not queued. */
  waiting_reason: WaitingReason | null;
}

/** One event of a machine's or a task's history. */
export interface EventView {
  /** The event's id: events of one history are ordered by it. */
  id: string;
  at: string;
  entity: 'machine' | 'task';
  entity_id: string;
  /** The step it records: a transition's name (docs/architecture.md §3, §4), or `create`, `finalize`, `retireRequest`. */
  kind: string;
  from: string | null;
  to: string;
  /** The lease it belongs to: the machine and the task on either side, null outside a lease. */
  machine_id: string | null;
  task_id: string | null;
  actor: string;
  reason: string | null;
}

/** A machine as `machines show` and GET /v1/machines/{id} answer it, live or deleted. */
export interface MachineDetailView extends Omit<MachineView, 'state'> {
  /** A machine state, or `deleted` once its row is gone (the rest then comes from its events). */
  state: string;
  /** When its row was deleted, null while it lives. */
  deleted_at: string | null;
  /** The tasks it was leased to, oldest first (the latest 50). */
  tasks: string[];
  /** Its latest 50 events, oldest first. */
  events: EventView[];
}

export interface DaemonView {
  id: string;
  cluster: string;
  host: string;
  pid: number;
  started_at: string;
  last_seen_at: string;
  stopped_at: string | null;
  /** Not stopped, and heard from within the bound (docs/api.md §4). */
  alive: boolean;
  /** The pools it leads now. */
  leads: string[];
}

export interface PoolView {
  name: string;
  provider: string;
  platform: string;
  arch: string;
  tags: string[];
  active: boolean;
  min_ready: number;
  max_size: number;
  max_uses: number | null;
  idle_timeout_s: number;
  recycle: string;
  /** The scaling policy the pool's row names. */
  autoscale_policy: string;
  /** What one machine costs per hour, as configured; null when not given. */
  price_per_hour: number | null;
  /** What the machines the pool holds now cost per hour (every state counts: a booting or draining machine is paid for); null without a price. */
  cost_per_hour: number | null;
  machines: Record<string, number>;
  queued_tasks: number;
  /**
   * The machines the pool's work needs now: running and queued tasks plus min_ready, within
   * max_size. A forecasting policy keeps more warm than this ahead of expected arrivals; what it
   * keeps lives in the leader's memory, not in the tables this view is read from.
   */
  desired_size: number;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function taskView(t: TaskRow): TaskView {
  return {
    id: t.id,
    tenant: t.tenant,
    state: t.state,
    pool: t.pool,
    platform: t.platform,
    tags: t.tags,
    priority: t.priority,
    payload: t.payload,
    attempts: t.attempts,
    max_attempts: t.maxAttempts,
    timeout_s: t.timeoutS,
    machine_id: t.machineId,
    result: t.result ?? null,
    error: t.error,
    created_at: t.createdAt.toISOString(),
    assigned_at: iso(t.assignedAt),
    started_at: iso(t.startedAt),
    finished_at: iso(t.finishedAt),
  };
}

export function machineView(m: MachineRow, provider: string): MachineView {
  return {
    id: m.id,
    name: m.name,
    pool: m.pool,
    provider,
    provider_id: m.providerId,
    state: m.state,
    ip: m.ip,
    uses: m.uses,
    task_id: m.taskId,
    created_at: m.createdAt.toISOString(),
    state_changed_at: m.stateChangedAt.toISOString(),
    last_error: m.lastError,
  };
}

export function eventView(e: HistoryEvent): EventView {
  return {
    id: e.id.toString(),
    at: e.at.toISOString(),
    entity: e.entity === 'machine' ? 'machine' : 'task',
    entity_id: e.entityId,
    kind: stepOf(e),
    from: e.fromState,
    to: e.toState,
    machine_id: e.machineId,
    task_id: e.taskId,
    actor: e.actor,
    reason: e.reason,
  };
}

export function taskStatusView(t: TaskRow, waiting: WaitingReason | null): TaskStatusView {
  return { ...taskView(t), waiting_reason: t.state === 'queued' ? waiting : null };
}

/** A deleted machine from its record (its row is gone). */
export function deletedMachineView(r: MachineRecord, provider: string): Omit<MachineDetailView, 'tasks' | 'events'> {
  return {
    id: r.id,
    name: r.name,
    pool: r.pool,
    provider,
    provider_id: r.providerId,
    state: 'deleted',
    ip: r.ip,
    uses: r.uses,
    task_id: null,
    created_at: r.createdAt.toISOString(),
    state_changed_at: (r.deletedAt ?? r.lastEventAt).toISOString(),
    last_error: r.lastError,
    deleted_at: iso(r.deletedAt),
  };
}

export function daemonView(d: DaemonStatus): DaemonView {
  return {
    id: d.id,
    cluster: d.cluster,
    host: d.host,
    pid: d.pid,
    started_at: d.startedAt.toISOString(),
    last_seen_at: d.seenAt.toISOString(),
    stopped_at: iso(d.stoppedAt),
    alive: d.alive,
    leads: d.leads,
  };
}

export function poolView(p: PoolRow, machines: Record<string, number>, queued: number, desired: number): PoolView {
  return {
    name: p.name,
    provider: p.provider,
    platform: p.platform,
    arch: p.arch,
    tags: p.tags,
    active: p.active,
    min_ready: p.minReady,
    max_size: p.maxSize,
    max_uses: p.maxUses,
    idle_timeout_s: p.idleTimeoutS,
    recycle: p.recycle,
    autoscale_policy: autoscalePolicyName(p),
    price_per_hour: p.pricePerHour,
    cost_per_hour: p.pricePerHour === null ? null : Math.round(p.pricePerHour * Object.values(machines).reduce((a, b) => a + b, 0) * 1e6) / 1e6,
    machines,
    queued_tasks: queued,
    desired_size: desired,
  };
}
