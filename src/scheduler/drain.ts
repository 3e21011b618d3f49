// An operator's (or a test's) drain of one machine: a ready machine is taken out of service and
// its retirement queued; a leased one is refused, or, when asked, marked to be deleted rather than
// reused once its task is done. Scale-down drains through the same transition (supervisor.ts).
import type { MachineRow } from '../db/schema.js';
import { drainMachine, getMachine, requestRetireAfterTask } from '../machinery/index.js';
import type { Queue } from 'bullmq';
import type { Db } from '../db/database.js';
import type { MachineJob } from './queue.js';
import { enqueueMachine } from './supervisor.js';

export type DrainResult =
  | { kind: 'draining'; machine: MachineRow }
  | { kind: 'after_task'; machine: MachineRow }
  /** Leased and not asked to wait, or in a state a drain does not apply to (still booting). */
  | { kind: 'refused'; machine: MachineRow }
  | { kind: 'not_found' };

/** States in which the machine is already on its way out: a drain there is a no-op, not an error. */
const RETIRING = new Set(['draining', 'stopping', 'stopped', 'released', 'deleting', 'failed']);

export interface DrainContext {
  db: Db;
  actor: string;
  queues: { machines: Queue<MachineJob> };
}

export async function drain(ctx: DrainContext, machineId: string, options: { afterTask?: boolean; reason?: string } = {}): Promise<DrainResult> {
  const { db, actor } = ctx;
  const drained = await drainMachine(db, machineId, { actor, reason: options.reason ?? 'drained by an operator' });
  if (drained.ok) {
    await enqueueMachine(ctx, 'retire', machineId, drained.row.version);
    return { kind: 'draining', machine: drained.row };
  }
  const current = drained.current ?? (await getMachine(db, machineId));
  if (!current) return { kind: 'not_found' };
  if (options.afterTask) {
    const marked = await requestRetireAfterTask(db, machineId, { actor });
    if (marked.ok) return { kind: 'after_task', machine: marked.row };
    return marked.current ? drainedOrRefused(marked.current) : { kind: 'not_found' };
  }
  return drainedOrRefused(current);
}

function drainedOrRefused(machine: MachineRow): DrainResult {
  if (machine.retireRequested && RETIRING.has(machine.state)) return { kind: 'draining', machine };
  return { kind: 'refused', machine };
}
