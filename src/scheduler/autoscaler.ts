// The autoscaler of one pool, run only by the pool's leader. What to create, how many idle
// machines may go and how many to keep is the policy's call (`AutoscalePolicy`; the default is
// policies/forecast.ts, selected per pool by policies/registry.ts). Capacity
// is reserved atomically (reserveMachines), so even two leaders could not pass max_size, whatever
// a policy asks for.
import type { Db } from '../db/database.js';
import type { MachineRow, PoolRow } from '../db/schema.js';
import { drainMachine, idleReadyMachines } from '../machinery/index.js';
import type { AutoscalePolicy, PoolLoad } from './policies/policy.js';

export { desiredSize } from './policies/demand.js';
export type { AutoscalePolicy, PoolLoad, ScalePlan } from './policies/policy.js';

export interface ScaleDecision {
  create: number;
  drain: string[];
  /** How many machines on their way back from a task are to be deleted at release instead of reimaged (those already asked included): the pool holds more than the plan keeps. */
  retire: number;
  /** Whether `retire` asks for more than are already marked, so that machines are to be marked now. */
  retireMore: boolean;
}

/** How many to create, which idle machines to drain, and how many machines on their way back to retire. */
export async function decide(db: Db, pool: PoolRow, load: PoolLoad, now: Date, policy: AutoscalePolicy): Promise<ScaleDecision> {
  const plan = policy.plan(pool, load, now);
  const create = Math.max(0, Math.floor(plan.create));
  const retire = plan.keep === undefined ? 0 : Math.max(0, Math.min(load.recycling, load.leased + load.ready + load.coming - Math.floor(plan.keep)));
  const retireMore = retire > load.retiring;
  const spare = Math.min(load.ready, Math.floor(plan.drain));
  if (spare <= 0) return { create, drain: [], retire, retireMore };
  const idle = await idleReadyMachines(db, pool.name, Math.max(0, plan.drainIdleForMs), spare);
  return { create, drain: idle.map((m) => m.id), retire, retireMore };
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
