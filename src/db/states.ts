// The state names, shared by the schema's CHECK constraints and src/machinery's transition
// tables, so the two can never disagree. What moves between them lives in src/machinery.
export const MACHINE_STATES = [
  'provisioning',
  'booting',
  'ready',
  'leased',
  'draining',
  'stopping',
  'stopped',
  'released',
  'reimaging',
  'deleting',
  'failed',
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

/** States in which a machine holds a task: from the lease until release ends it. */
export const MACHINE_HOLDING_STATES = ['leased', 'stopping', 'stopped'] as const satisfies readonly MachineState[];

export const TASK_STATES = ['queued', 'assigned', 'running', 'completed', 'failed', 'timed_out', 'canceled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TASK_ACTIVE_STATES = ['assigned', 'running'] as const satisfies readonly TaskState[];
export const TASK_TERMINAL_STATES = ['completed', 'failed', 'timed_out', 'canceled'] as const satisfies readonly TaskState[];

/** What a runner concluded; release turns it into the task's final state. */
export const TASK_OUTCOMES = ['completed', 'failed', 'timed_out', 'requeue'] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];

export const PROVIDERS = ['aws', 'azure', 'sim'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const PLATFORMS = ['linux', 'windows'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** What happens to a machine after release: thrown away, or reimaged back to ready. */
export const RECYCLE_MODES = ['delete', 'reimage'] as const;
export type RecycleMode = (typeof RECYCLE_MODES)[number];

/** API roles, each including the ones before it: submitter (tasks), operator (+ machines, pools), admin (+ tokens). */
export const TOKEN_ROLES = ['submitter', 'operator', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** The tenant of tokens and tasks that name none (and of everything from before tenants existed). */
export const DEFAULT_TENANT = 'default';
/** Tenant names: lowercase letters, digits and dashes, at most 63, starting with a letter or digit. */
export const TENANT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
