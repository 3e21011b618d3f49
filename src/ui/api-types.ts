// The API's shapes as the dashboard reads them (docs/api.md §4). Fields later API versions add
// are optional here, and the views show them only when present.

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Task {
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
  /** Why a queued task has not started yet; only from APIs that report it. */
  waiting_reason?: unknown;
}

export interface Machine {
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

export interface StateEvent {
  at: string;
  from: string | null;
  to: string;
  actor: string;
  reason: string | null;
}

export interface MachineDetail extends Machine {
  events: StateEvent[];
}

export interface Pool {
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
  autoscale_policy: string;
  price_per_hour: number | null;
  cost_per_hour: number | null;
  machines: Record<string, number>;
  queued_tasks: number;
  desired_size: number;
}

export const TASK_STATES = ['queued', 'assigned', 'running', 'completed', 'failed', 'timed_out', 'canceled'] as const;
export const FINAL_TASK_STATES: readonly string[] = ['completed', 'failed', 'timed_out', 'canceled'];
export const MACHINE_STATES = ['provisioning', 'booting', 'ready', 'leased', 'draining', 'stopping', 'stopped', 'released', 'reimaging', 'deleting', 'failed'] as const;
