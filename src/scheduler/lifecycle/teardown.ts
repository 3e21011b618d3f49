// Teardown phases, in the order docs/architecture.md §5 fixes: stop → release → (reimage back to ready |
// delete the instance until the provider reports it gone, then delete the record). Cloud calls
// happen between conditional transitions, never inside a transaction; each phase takes the row
// the previous one returned and answers the row as it left it (null once deleted).
import type { MachineRow } from '../../db/schema.js';
import { finalizeDelete, markFailed, rowOf, settleStopped, type RecycleChoice } from '../../machinery/index.js';
import type { PoolRow } from '../../db/schema.js';
import { isProviderError, transient } from '../../providers/errors.js';
import type { Instance, Provider } from '../../providers/types.js';
import { adapterOf, claimTurn, handOn, waitFor, type LifecycleContext } from './context.js';

/**
 * stopping: asks the provider to stop the instance (or, where it cannot stop without deleting,
 * to delete it) and waits until it reports the instance stopped or gone. Only then is the
 * machine recorded stopped, released and sent on to reimage or delete, in one transaction.
 */
export async function stop(ctx: LifecycleContext, machine: MachineRow): Promise<MachineRow | null> {
  const { pool, provider } = await adapterOf(ctx, machine);
  const providerId = machine.providerId;
  if (providerId) {
    const lookup = { createdAt: machine.createdAt };
    const off = (i: Instance) => i.state === 'stopped' || i.state === 'terminated' || (!provider.capabilities.stopWithoutDelete && i.state === 'terminating');
    try {
      await (provider.capabilities.stopWithoutDelete ? provider.stop(providerId, lookup) : provider.delete(providerId, lookup));
      await waitFor(ctx, () => reports(provider, providerId, lookup, off), () => transient(`instance ${providerId} not stopped yet`, { operation: 'stop' }));
    } catch (error) {
      // An instance that is already gone is as stopped as it gets.
      if (!isProviderError(error, 'not_found')) throw error;
    }
  }
  return settle(ctx, machine, pool, provider);
}

/** stopped | released (a resumed job): release and choose reimage or delete, in one transaction. */
export async function settle(ctx: LifecycleContext, machine: MachineRow, pool?: PoolRow, provider?: Provider): Promise<MachineRow | null> {
  const adapter = pool && provider ? { pool, provider } : await adapterOf(ctx, machine);
  const settled = await settleStopped(ctx.db, machine, (released) => recycleChoice(adapter.pool, adapter.provider, released), { actor: ctx.actor, turn: claimTurn(ctx) });
  await handOn(ctx, adapter.pool, settled);
  return settled.machine;
}

/** Reimage while the pool wants it, the machine has uses left and nobody asked for its retirement. */
export function recycleChoice(pool: PoolRow, provider: Provider, released: MachineRow): RecycleChoice {
  const usesLeft = pool.maxUses === null || released.uses < pool.maxUses;
  // A reimage needs the instance kept: a provider that can only stop by deleting cannot reimage.
  const canReimage = provider.capabilities.reimage && provider.capabilities.stopWithoutDelete && provider.reimage !== undefined && released.providerId !== null;
  return !released.retireRequested && pool.active && pool.recycle === 'reimage' && canReimage && usesLeft ? 'reimage' : 'delete';
}

/** reimaging, just recorded: asks the provider to reimage. A refusal that will not change fails the machine. */
export async function reimage(ctx: LifecycleContext, machine: MachineRow): Promise<MachineRow | null> {
  const { provider } = await adapterOf(ctx, machine);
  if (!machine.providerId || !provider.reimage) return rowOf(await markFailed(ctx.db, machine.id, 'cannot reimage', { actor: ctx.actor }));
  try {
    await provider.reimage(machine.providerId);
    return machine;
  } catch (error) {
    if (isProviderError(error) && !error.retryable) return rowOf(await markFailed(ctx.db, machine.id, error.message, { actor: ctx.actor }));
    throw error;
  }
}

/**
 * deleting: the provider delete is asked for once per attempt, then the instance is watched
 * until the provider reports it gone, and only then is the row deleted (the finalizer).
 */
export async function deleteMachine(ctx: LifecycleContext, machine: MachineRow): Promise<MachineRow | null> {
  const providerId = machine.providerId;
  if (providerId) {
    const { provider } = await adapterOf(ctx, machine);
    const lookup = { createdAt: machine.createdAt };
    await provider.delete(providerId, lookup);
    await waitFor(ctx, () => reports(provider, providerId, lookup, (i) => i.state === 'terminated'), () => transient(`instance ${providerId} not gone yet`, { operation: 'delete' }));
  }
  const deleted = await finalizeDelete(ctx.db, machine.id, { actor: ctx.actor });
  return deleted.ok ? null : deleted.current;
}

/** Whether the provider reports the instance in a state `wanted` accepts; gone counts as accepted. */
async function reports(provider: Provider, providerId: string, lookup: { createdAt: Date }, wanted: (i: Instance) => boolean): Promise<boolean> {
  try {
    return wanted(await provider.get(providerId, lookup));
  } catch (error) {
    if (isProviderError(error, 'not_found')) return true;
    if (isProviderError(error) && error.retryable) return false;
    throw error;
  }
}
