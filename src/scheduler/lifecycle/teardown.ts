// Teardown phases, run in the order DESIGN.md fixes by converge: stop → release → (reimage back
// to ready | delete the instance until the provider reports it gone, then delete the record). Each step is a
// conditional transition; cloud calls happen between them, never inside a transaction.
import { beginReimage, finalizeDelete, markFailed, markStopped, requestDelete } from '../../machinery/index.js';
import { isProviderError, transient } from '../../providers/errors.js';
import type { Provider } from '../../providers/types.js';
import { load, pause, type LifecycleContext } from './context.js';
import { awaitReady, type ReadinessOptions } from './readiness.js';

/** stopping → stopped: powers the instance off. An instance that is already gone counts as stopped. */
export async function stop(ctx: LifecycleContext, machineId: string): Promise<'stopped' | 'skipped'> {
  const loaded = await load(ctx, machineId);
  if (!loaded || loaded.machine.state !== 'stopping') return 'skipped';
  const { machine, provider } = loaded;
  if (machine.providerId && provider.capabilities.stopWithoutDelete) {
    try {
      await provider.stop(machine.providerId, { createdAt: machine.createdAt });
    } catch (error) {
      if (!isProviderError(error, 'not_found')) throw error;
    }
  }
  return (await markStopped(ctx.db, machineId, { actor: ctx.actor })).ok ? 'stopped' : 'skipped';
}

export type RecycleResult = 'ready' | 'deleted' | 'failed' | 'skipped';

export async function recycle(ctx: LifecycleContext, machineId: string, readiness: ReadinessOptions): Promise<RecycleResult> {
  const loaded = await load(ctx, machineId);
  if (!loaded || loaded.machine.state !== 'released') return 'skipped';
  const { machine, pool, provider } = loaded;
  const usesLeft = pool.maxUses === null || machine.uses < pool.maxUses;
  if (!machine.retireRequested && pool.active && pool.recycle === 'reimage' && provider.capabilities.reimage && provider.reimage && usesLeft && machine.providerId) {
    if (!(await beginReimage(ctx.db, machineId, { actor: ctx.actor })).ok) return 'skipped';
    try {
      await provider.reimage(machine.providerId);
    } catch (error) {
      if (isProviderError(error) && !error.retryable) {
        await markFailed(ctx.db, machineId, error.message, { actor: ctx.actor });
        return (await deleteMachine(ctx, machineId)) === 'deleted' ? 'failed' : 'skipped';
      }
      throw error;
    }
    const ready = await awaitReady(ctx, machineId, readiness);
    if (ready === 'failed') await deleteMachine(ctx, machineId);
    return ready;
  }
  return deleteMachine(ctx, machineId);
}

/**
 * released | failed → deleting, then the provider delete is repeated until the provider reports
 * the instance gone, and only then is the row deleted (the finalizer).
 */
export async function deleteMachine(ctx: LifecycleContext, machineId: string): Promise<'deleted' | 'skipped'> {
  let loaded = await load(ctx, machineId);
  if (loaded && (loaded.machine.state === 'released' || loaded.machine.state === 'failed')) {
    await requestDelete(ctx.db, machineId, { actor: ctx.actor });
    loaded = await load(ctx, machineId);
  }
  if (!loaded || loaded.machine.state !== 'deleting') return 'skipped';
  const { machine, provider } = loaded;
  if (machine.providerId) {
    const giveUpAt = Date.now() + (ctx.deleteWaitMs ?? 10 * 60_000);
    while (!(await gone(provider, machine.providerId, machine.createdAt))) {
      // The row stays in deleting; the job's retry (or the reconciler) asks again later.
      if (Date.now() > giveUpAt) throw transient(`instance ${machine.providerId} not gone yet`, { operation: 'delete' });
      await pause(ctx);
    }
  }
  return (await finalizeDelete(ctx.db, machineId, { actor: ctx.actor })).ok ? 'deleted' : 'skipped';
}

/** Asks for deletion (idempotent) and answers whether the provider now reports the instance gone. */
async function gone(provider: Provider, providerId: string, createdAt: Date): Promise<boolean> {
  await provider.delete(providerId, { createdAt });
  try {
    const instance = await provider.get(providerId, { createdAt });
    return instance.state === 'terminated';
  } catch (error) {
    if (isProviderError(error, 'not_found')) return true;
    if (isProviderError(error) && error.retryable) return false;
    throw error;
  }
}
