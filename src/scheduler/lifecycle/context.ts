import type { Db } from '../../db/database.js';
import type { MachineRow, PoolRow } from '../../db/schema.js';
import type { Lease } from '../../machinery/index.js';
import type { Provider } from '../../providers/types.js';
import type { PoolCache } from '../pool-cache.js';
import type { ProviderRegistry } from '../providers.js';

/** What a lifecycle phase needs: the database, the pools and their adapters, and who is acting. */
export interface LifecycleContext {
  db: Db;
  pools: PoolCache;
  providers: ProviderRegistry;
  actor: string;
  /** Hands leases made when a machine became ready (or a task was requeued) to their runs. */
  startRuns: (pool: PoolRow, leases: readonly Lease[]) => Promise<void>;
  /** What a new instance of the pool is handed at create (an agent pool's machine credential). */
  userDataFor?: (pool: PoolRow, machine: MachineRow) => Promise<string | undefined>;
  /** How often to ask the provider while waiting for an instance to boot, stop or go. */
  pollIntervalMs?: number;
  /** Longest one job waits for the provider to report an instance stopped or gone before handing back. */
  settleWaitMs?: number;
}

export interface PoolAndProvider {
  pool: PoolRow;
  provider: Provider;
}

/** The machine's pool (from the cache) and its adapter. */
export async function adapterOf(ctx: LifecycleContext, machine: MachineRow): Promise<PoolAndProvider> {
  const pool = await ctx.pools.get(machine.pool);
  return { pool, provider: ctx.providers.for(pool) };
}

export function pause(ctx: LifecycleContext): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ctx.pollIntervalMs ?? 1000));
}

/** Polls `settled` (a provider read) until it answers true, for at most the context's settle wait. */
export async function waitFor(ctx: LifecycleContext, settled: () => Promise<boolean>, giveUp: () => Error): Promise<void> {
  const giveUpAt = Date.now() + (ctx.settleWaitMs ?? 10 * 60_000);
  while (!(await settled())) {
    // The row stays where it is; the job's retry (or the reconciler) asks again later.
    if (Date.now() > giveUpAt) throw giveUp();
    await pause(ctx);
  }
}
