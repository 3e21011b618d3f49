// What the service layer refuses, typed, so the API maps each to its status and the CLI to its
// exit code and message.
export type Entity = 'task' | 'machine' | 'token';

export class NotFound extends Error {
  override readonly name = 'NotFound';
  constructor(
    readonly entity: Entity,
    readonly id: string,
    /** The id was given by its first characters (the CLI), none of which start an id. */
    readonly byPrefix = false,
  ) {
    super(byPrefix ? `no ${entity} with id prefix ${id}` : `no ${entity} with id ${id}`);
  }
}

/** An id's first characters start more than one id: the caller must give more of it (bad usage, not a failure). */
export class AmbiguousIdPrefix extends Error {
  override readonly name = 'AmbiguousIdPrefix';
  constructor(
    readonly entity: Entity,
    readonly prefix: string,
    /** The first of the ids it starts, lowest first. */
    readonly matches: readonly string[],
    /** More ids than `matches` start with it. */
    readonly more: boolean,
  ) {
    super(`id prefix ${prefix} starts ${more ? `more than ${matches.length}` : matches.length} ${entity} ids: ${matches.join(', ')}${more ? ', …' : ''}; give more of the id`);
  }
}

/** A machine that cannot be drained now: it serves a task (ask for drain-after-task) or is not ready. */
export class MachineBusy extends Error {
  override readonly name = 'MachineBusy';
  constructor(
    readonly machineId: string,
    readonly state: string,
  ) {
    super(
      state === 'leased'
        ? `machine ${machineId} is leased to a task; drain it after the task (after_task=true) instead`
        : `machine ${machineId} is ${state}; only a ready machine can be drained`,
    );
  }
}

export class InvalidCursor extends Error {
  override readonly name = 'InvalidCursor';
  constructor() {
    super('cursor is not one this API returned (use next_cursor from the previous page)');
  }
}

/** A submitter asked for another tenant's tasks by name. */
export class TenantHidden extends Error {
  override readonly name = 'TenantHidden';
  constructor(readonly tenant: string) {
    super(`this token sees only its own tenant's tasks, not tenant "${tenant}"`);
  }
}

/** A token was asked for a tenant that is not declared. */
export class UnknownTenant extends Error {
  override readonly name = 'UnknownTenant';
  constructor(
    readonly tenant: string,
    readonly known: string[],
  ) {
    super(`no tenant named "${tenant}" (tenants: ${known.join(', ')}); declare it under \`tenants:\` in the config, which the daemon and \`sandfleet tokens create --config FILE\` sync`);
  }
}
