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
    const stops = provider.capabilities.stopWithoutDelete;
    const off = (i: Instance) => i.state === 'stopped' || i.state === 'terminated' || (!stops && i.state === 'terminating');
    const untouched = (i: Instance) => i.state === 'running' || i.state === 'pending';
    try {
      await askThenWatch(ctx, {
        ask: () => (stops ? provider.stop(providerId, lookup) : provider.delete(providerId, lookup)),
        look: () => look(provider, providerId, lookup),
        done: off,
        untouched,
        giveUp: () => transient(`instance ${providerId} not stopped yet`, { operation: 'stop' }),
      });
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
  if (!machine.providerId || !provider.reimage) return rowOf(await markFailed(ctx.db, machine.id, 'cannot reimage', { actor: ctx.actor, reason: 'cannot reimage' }));
  try {
    await provider.reimage(machine.providerId);
    return machine;
  } catch (error) {
    if (isProviderError(error) && !error.retryable) return rowOf(await markFailed(ctx.db, machine.id, error.message, { actor: ctx.actor, reason: error.message }));
    throw error;
  }
}

/**
 * deleting: the provider delete is asked for once, then the instance is watched until the
 * provider reports it gone, and only then is the row deleted (the finalizer).
 */
export async function deleteMachine(ctx: LifecycleContext, machine: MachineRow): Promise<MachineRow | null> {
  const providerId = machine.providerId;
  if (providerId) {
    const { provider } = await adapterOf(ctx, machine);
    const lookup = { createdAt: machine.createdAt };
    await askThenWatch(ctx, {
      ask: () => provider.delete(providerId, lookup),
      look: () => look(provider, providerId, lookup),
      done: (i) => i.state === 'terminated',
      untouched: (i) => i.state !== 'terminating' && i.state !== 'terminated',
      giveUp: () => transient(`instance ${providerId} not gone yet`, { operation: 'delete' }),
    });
  }
  const deleted = await finalizeDelete(ctx.db, machine.id, { actor: ctx.actor });
  return deleted.ok ? null : deleted.current;
}

/** A request's first repeat waits this long for the provider to show it taken; each later one twice as long. */
const ASK_AGAIN_AFTER_MS = 30_000;

interface Watch {
  ask: () => Promise<void>;
  /** The instance as the provider reports it now; null when it is gone, undefined when the answer failed and may be asked again. */
  look: () => Promise<Instance | null | undefined>;
  done: (i: Instance) => boolean;
  /** The provider shows no sign of the request (a request lost before it acted). */
  untouched: (i: Instance) => boolean;
  giveUp: () => Error;
}

/**
 * Asks the provider once, then watches the instance through reads (batched by the adapter). The
 * request is repeated only while the instance still looks untouched after a backoff from 30 s,
 * doubling: a request lost before it acted is made good, one merely slow is not sent again.
 */
async function askThenWatch(ctx: LifecycleContext, watch: Watch): Promise<void> {
  await watch.ask();
  let askedAt = Date.now();
  let backoff = ctx.askAgainAfterMs ?? ASK_AGAIN_AFTER_MS;
  await waitFor(ctx, async () => {
    const instance = await watch.look();
    if (instance === null) return true;
    if (instance === undefined) return false;
    if (watch.done(instance)) return true;
    if (watch.untouched(instance) && Date.now() - askedAt >= backoff) {
      await watch.ask();
      askedAt = Date.now();
      backoff *= 2;
    }
    return false;
  }, watch.giveUp);
}

/** The instance as the provider reports it; null when gone, undefined when the read failed retryably. */
async function look(provider: Provider, providerId: string, lookup: { createdAt: Date }): Promise<Instance | null | undefined> {
  try {
    return await provider.get(providerId, lookup);
  } catch (error) {
    if (isProviderError(error, 'not_found')) return null;
    if (isProviderError(error) && error.retryable) return undefined;
    throw error;
  }
}
