import type { Db } from '../../db/database.js';
import type { MachineRow, PoolRow } from '../../db/schema.js';
import type { ClaimTurn, Lease } from '../../machinery/index.js';
import type { Provider } from '../../providers/types.js';
import type { DatabaseClock } from '../database-clock.js';
import type { PoolCache } from '../pool-cache.js';
import type { ProviderRegistry } from '../providers.js';

/** What a lifecycle phase needs: the database, the pools and their adapters, and who is acting. */
export interface LifecycleContext {
  db: Db;
  pools: PoolCache;
  providers: ProviderRegistry;
  actor: string;
  /** The database's time: deadlines from timestamps it wrote are measured against it. */
  clock: DatabaseClock;
  /** Hands leases made when a machine became ready (or a task was requeued) to their runs. */
  startRuns: (pool: PoolRow, leases: readonly Lease[]) => Promise<void>;
  /** Claims for a pool after a commit whose claim found the turn busy; without it, claims wait for the turn. */
  claimLater?: (pool: PoolRow) => Promise<readonly Lease[]>;
  /** What a new instance of the pool is handed at create (an agent pool's machine credential). */
  userDataFor?: (pool: PoolRow, machine: MachineRow) => Promise<string | undefined>;
  /** How often to ask the provider while waiting for an instance to boot, stop or go. */
  pollIntervalMs?: number;
  /** Longest one job waits for the provider to report an instance stopped or gone before handing back. */
  settleWaitMs?: number;
  /** How long a stop or delete the provider shows no sign of taking is left before it is asked again (doubling). */
  askAgainAfterMs?: number;
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

/** The first wait of a poll: a stop or boot that settles at once is seen at once. */
const FIRST_POLL_MS = 100;

/**
 * Waits before the `attempt`-th look at the provider (0-based): from 100 ms, doubling up to the
 * context's poll interval, so a quick stop or boot costs a look or two and a slow one a look per
 * interval.
 */
export function pause(ctx: LifecycleContext, attempt: number): Promise<void> {
  const every = ctx.pollIntervalMs ?? 1000;
  const ms = Math.min(every, FIRST_POLL_MS * 2 ** Math.min(attempt, 20));
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `settled` (a provider read) until it answers true, for at most the context's settle wait. */
export async function waitFor(ctx: LifecycleContext, settled: () => Promise<boolean>, giveUp: () => Error): Promise<void> {
  const giveUpAt = Date.now() + (ctx.settleWaitMs ?? 10 * 60_000);
  for (let attempt = 0; !(await settled()); attempt++) {
    // The row stays where it is; the job's retry (or the reconciler) asks again later.
    if (Date.now() > giveUpAt) throw giveUp();
    await pause(ctx, attempt);
  }
}

/** The claim turn a phase's transaction takes: `try` when the context can claim after the commit. */
export const claimTurn = (ctx: LifecycleContext): ClaimTurn => (ctx.claimLater ? 'try' : 'wait');

/** Passes a phase's claim on: its leases to their runs, a claim the busy turn deferred to claimLater. */
export async function handOn(ctx: LifecycleContext, pool: PoolRow, claimed: { leases: readonly Lease[]; deferred: boolean }): Promise<void> {
  // Not awaited: the claim's leases get their runs from it, and the phase has nothing to wait for.
  if (claimed.deferred) void ctx.claimLater?.(pool);
  await ctx.startRuns(pool, claimed.leases);
}
