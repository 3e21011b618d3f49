// The task state machine (docs/architecture.md §4). Terminal states have no way out.
import type { TaskState } from '../db/states.js';
import type { TransitionTable } from './transition-table.js';

export const TASK_TRANSITIONS = {
  /** Only the allocator, together with the machine's lease. */
  assign: { from: ['queued'], to: 'assigned' },
  start: { from: ['assigned'], to: 'running' },
  complete: { from: ['running'], to: 'completed' },
  fail: { from: ['assigned', 'running'], to: 'failed' },
  timeOut: { from: ['assigned', 'running'], to: 'timed_out' },
  cancel: { from: ['queued', 'assigned', 'running'], to: 'canceled' },
  /** The machine was lost and attempts remain. */
  requeue: { from: ['assigned', 'running'], to: 'queued' },
} as const satisfies TransitionTable<TaskState>;

export type TaskTransition = keyof typeof TASK_TRANSITIONS;
