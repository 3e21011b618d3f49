// The API's shapes as the dashboard reads them: the types openapi-typescript generates from the
// served document (src/ui/generated/openapi.ts), so a view that reads a field the contract does
// not have fails the type check.
import type { components } from './generated/openapi.js';

type Schemas = components['schemas'];

export type Problem = Schemas['Problem'];
export type Task = Schemas['TaskStatus'];
export type Machine = Schemas['Machine'];
export type MachineDetail = Schemas['MachineDetail'];
export type Pool = Schemas['Pool'];
export type StateEvent = Schemas['Event'];

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

// Records keyed by the contract's state enums: a state added to or dropped from the API fails
// the type check here until the dashboard knows it.
const TASK_FINISHED: Record<Task['state'], boolean> = { queued: false, assigned: false, running: false, completed: true, failed: true, timed_out: true, canceled: true };
const MACHINE_STATE_NAMES: Record<Machine['state'], true> = {
  provisioning: true,
  booting: true,
  ready: true,
  leased: true,
  draining: true,
  stopping: true,
  stopped: true,
  released: true,
  reimaging: true,
  deleting: true,
  failed: true,
};

export const TASK_STATES = Object.keys(TASK_FINISHED) as Task['state'][];
// In the order written (Object.keys keeps it): the filters and counts show them so.
export const MACHINE_STATES = Object.keys(MACHINE_STATE_NAMES) as Machine['state'][];

/** A task in one of the states it never leaves. */
export function isFinished(state: Task['state']): boolean {
  return TASK_FINISHED[state];
}
