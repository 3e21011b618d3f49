// Provision: the row (state provisioning) is the intent, written before this runs; the cloud
// create is idempotent on the machine id; its outcome is recorded as provisioning → booting.
// Nothing here runs inside a transaction (DESIGN rule 6).
import { SQLSTATE, sqlState } from '../../db/errors.js';
import type { MachineRow } from '../../db/schema.js';
import { markBooting, markFailed, rowOf } from '../../machinery/index.js';
import { isProviderError, transient } from '../../providers/errors.js';
import type { Launch } from '../../providers/types.js';
import { adapterOf, type LifecycleContext } from './context.js';

/**
 * Creates the machine's instance; answers the row as the outcome left it. Retryable provider
 * errors are thrown for the job to retry; capacity and fatal errors fail the machine (its
 * teardown then deletes the row).
 */
export async function provision(ctx: LifecycleContext, machine: MachineRow): Promise<MachineRow | null> {
  const { pool, provider } = await adapterOf(ctx, machine);
  const userData = await ctx.userDataFor?.(pool, machine);
  let instance;
  try {
    instance = await provider.create({ machineId: machine.id, name: machine.name, ...(userData === undefined ? {} : { userData }), ...launchOf(machine) });
  } catch (error) {
    // No capacity anywhere the adapter could fall back to, or a refusal that will not change:
    // this machine will not exist. Throttling and transient errors are the job's to retry.
    if (isProviderError(error) && (error.kind === 'capacity' || error.kind === 'fatal')) {
      return rowOf(await markFailed(ctx.db, machine.id, error.message, { actor: ctx.actor, reason: error.message }));
    }
    throw error;
  }
  try {
    return rowOf(await markBooting(ctx.db, machine.id, { providerId: instance.providerId, ip: instance.ip }, { actor: ctx.actor }));
  } catch (error) {
    // Another row already holds this instance (two daemons handed out the same scale set
    // instance): the unique index refused ours, so ask the provider again.
    if (sqlState(error) === SQLSTATE.uniqueViolation) throw transient(`instance ${instance.providerId} is held by another machine`, { cause: error });
    throw error;
  }
}

/** The launch the machine was reserved in, if any. */
function launchOf(machine: MachineRow): { launch?: Launch } {
  const { launchId: id, launchIndex: index, launchSize: size } = machine;
  return id !== null && index !== null && size !== null ? { launch: { id, index, size } } : {};
}
