// The autoscaler of one pool, run only by the pool's leader. What to create and how many idle
// machines may go is the policy's call (`AutoscalePolicy`; the default, policies/demand.ts, grows
// the pool to queued + leased + min_ready and drains machines idle past idle_timeout_s). Capacity
// is reserved atomically (reserveMachines), so even two leaders could not pass max_size, whatever
// a policy asks for.
import type { Db } from '../db/database.js';
import type { MachineRow, PoolRow } from '../db/schema.js';
import { drainMachine, idleReadyMachines } from '../machinery/index.js';
import { demandPolicy } from './policies/demand.js';
import type { AutoscalePolicy, PoolLoad } from './policies/policy.js';

export { desiredSize } from './policies/demand.js';
export type { AutoscalePolicy, PoolLoad, ScalePlan } from './policies/policy.js';

export interface ScaleDecision {
  create: number;
  drain: string[];
}

/** How many to create, and which idle machines to drain. */
export async function decide(db: Db, pool: PoolRow, load: PoolLoad, now = new Date(), policy: AutoscalePolicy = demandPolicy()): Promise<ScaleDecision> {
  const plan = policy.plan(pool, load, now);
  const create = Math.max(0, Math.floor(plan.create));
  const spare = Math.min(load.ready, Math.floor(plan.drain));
  if (spare <= 0) return { create, drain: [] };
  const idle = await idleReadyMachines(db, pool.name, new Date(now.getTime() - Math.max(0, plan.drainIdleForMs)), spare);
  return { create, drain: idle.map((m) => m.id) };
}

/** Drains the chosen machines; a machine leased in the meantime answers Conflict and stays. */
export async function drainIdle(db: Db, machineIds: string[], actor: string): Promise<MachineRow[]> {
  const drained: MachineRow[] = [];
  for (const id of machineIds) {
    const outcome = await drainMachine(db, id, { actor, reason: 'idle past idle_timeout_s' });
    if (outcome.ok) drained.push(outcome.row);
  }
  return drained;
}
