// The machine state machine (docs/architecture.md §3): the single source of which
// transitions exist. Repository functions name a transition; they never list states themselves.
import { MACHINE_HOLDING_STATES, type MachineState } from '../db/states.js';
import type { TransitionTable } from './transition-table.js';

export const MACHINE_TRANSITIONS = {
  /** The provider accepted the create; the instance is booting. */
  boot: { from: ['provisioning'], to: 'booting' },
  /** Booted (or reimaged) and answering its readiness probe. */
  becomeReady: { from: ['booting', 'reimaging'], to: 'ready' },
  /** Only the allocator; conditional on `ready`, so a machine is leased or drained, never both. */
  lease: { from: ['ready'], to: 'leased' },
  /** Only scale-down or an operator; a leased machine cannot be drained. */
  drain: { from: ['ready'], to: 'draining' },
  /** First step of the finishing order: stop the instance. */
  beginStop: { from: ['leased', 'draining'], to: 'stopping' },
  stopped: { from: ['stopping'], to: 'stopped' },
  /** Second step: the lease ends and the task's final state is recorded. */
  release: { from: ['stopped'], to: 'released' },
  reimage: { from: ['released'], to: 'reimaging' },
  /** Third step: the record is deleted once the provider reports the instance gone. */
  requestDelete: { from: ['released', 'failed'], to: 'deleting' },
  fail: { from: ['provisioning', 'booting', 'reimaging'], to: 'failed' },
} as const satisfies TransitionTable<MachineState>;

export type MachineTransition = keyof typeof MACHINE_TRANSITIONS;

/**
 * Where an operator's retire request (drain after the task) is taken: a machine still holding its
 * task, which will pass through release and be deleted there instead of reimaged. The row changes
 * (`retire_requested`, its version) but stays in its state, so its event goes from the state to
 * itself: the one kind of event that is not a transition of the table.
 */
export const MACHINE_RETIRE_REQUEST_STATES: readonly MachineState[] = MACHINE_HOLDING_STATES;

/** The only state from which a machine row may be deleted (its finalizer). */
export const MACHINE_DELETABLE_STATE = 'deleting' satisfies MachineState;
/** The pseudo-state logged when the row is deleted. */
export const MACHINE_DELETED = 'deleted';
