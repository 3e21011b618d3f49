import type { Db } from '../../db/database.js';
import type { MachineRow, PoolRow } from '../../db/schema.js';
import { getMachine, getPool } from '../../machinery/index.js';
import type { Provider } from '../../providers/types.js';
import type { ProviderRegistry } from '../providers.js';

/** What a lifecycle phase needs: the database, the pools' adapters, and who is acting. */
export interface LifecycleContext {
  db: Db;
  providers: ProviderRegistry;
  actor: string;
  /** How often to ask the provider while waiting for an instance to boot or go. */
  pollIntervalMs?: number;
  /** Longest one job waits for the provider to report an instance gone before handing back. */
  deleteWaitMs?: number;
}

export interface MachineAndPool {
  machine: MachineRow;
  pool: PoolRow;
  provider: Provider;
}

/** The machine as it is now, with its pool and adapter; null when the row is gone. */
export async function load(ctx: LifecycleContext, machineId: string): Promise<MachineAndPool | null> {
  const machine = await getMachine(ctx.db, machineId);
  if (!machine) return null;
  const pool = await getPool(ctx.db, machine.pool);
  if (!pool) throw new Error(`machine ${machineId} names pool ${machine.pool}, which does not exist`);
  return { machine, pool, provider: ctx.providers.for(pool) };
}

export function pause(ctx: LifecycleContext): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ctx.pollIntervalMs ?? 1000));
}
