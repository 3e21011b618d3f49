// Provision: the row (state provisioning) is the intent, written before this runs; the cloud
// create is idempotent on the machine id; its outcome is recorded as provisioning → booting.
// Nothing here runs inside a transaction (DESIGN rule 6).
import { SQLSTATE, sqlState } from '../../db/errors.js';
import { markBooting, markFailed } from '../../machinery/index.js';
import { isProviderError, transient } from '../../providers/errors.js';
import { load, type LifecycleContext } from './context.js';

export type ProvisionResult = 'booting' | 'failed' | 'skipped';

/**
 * Creates the machine's instance. Retryable provider errors are thrown for the job to retry;
 * capacity and fatal errors fail the machine (its teardown then deletes the row).
 */
export async function provision(ctx: LifecycleContext, machineId: string): Promise<ProvisionResult> {
  const loaded = await load(ctx, machineId);
  if (!loaded || loaded.machine.state !== 'provisioning') return 'skipped';
  const { machine, provider } = loaded;
  let instance;
  try {
    instance = await provider.create({ machineId: machine.id, name: machine.name });
  } catch (error) {
    // No capacity anywhere the adapter could fall back to, or a refusal that will not change:
    // this machine will not exist. Throttling and transient errors are the job's to retry.
    if (isProviderError(error) && (error.kind === 'capacity' || error.kind === 'fatal')) return fail(ctx, machineId, error.message);
    throw error;
  }
  try {
    const booted = await markBooting(ctx.db, machineId, { providerId: instance.providerId, ip: instance.ip }, { actor: ctx.actor });
    return booted.ok ? 'booting' : 'skipped';
  } catch (error) {
    // Another row already holds this instance (two daemons handed out the same scale set
    // instance): the unique index refused ours, so ask the provider again.
    if (sqlState(error) === SQLSTATE.uniqueViolation) throw transient(`instance ${instance.providerId} is held by another machine`, { cause: error });
    throw error;
  }
}

async function fail(ctx: LifecycleContext, machineId: string, reason: string): Promise<ProvisionResult> {
  const failed = await markFailed(ctx.db, machineId, reason, { actor: ctx.actor, reason });
  return failed.ok ? 'failed' : 'skipped';
}
