// Converge: drive a machine from wherever it is to a resting state (ready, leased, or gone),
// finishing what a crashed worker left half done. Each step is the same conditional phase the
// normal path uses, and hands the row it wrote (RETURNING) to the next, so nothing is read
// twice; running it twice, or beside the normal path, changes nothing twice.
import type { MachineRow } from '../../db/schema.js';
import { beginStop, requestDelete, rowOf } from '../../machinery/index.js';
import type { LifecycleContext } from './context.js';
import { provision } from './provision.js';
import { awaitReady, type ReadinessOptions } from './readiness.js';
import { deleteMachine, reimage, settle, stop } from './teardown.js';

export type Resting = 'ready' | 'leased' | 'gone';

const MAX_STEPS = 12;

/** `machine` is the row as the caller last had it (null: gone); a stale one only costs a conflict. */
export async function converge(ctx: LifecycleContext, machine: MachineRow | null, readiness: ReadinessOptions): Promise<Resting> {
  const options = { actor: ctx.actor };
  // A `reimaging` row this call did not put there may never have reached the provider.
  let reimageRequested = false;
  let row = machine;
  for (let step = 0; step < MAX_STEPS && row; step++) {
    switch (row.state) {
      case 'ready':
      case 'leased':
        return row.state;
      case 'provisioning':
        row = await provision(ctx, row);
        break;
      case 'booting':
      case 'reimaging':
        row = await awaitReady(ctx, row, readiness, { reimageIfStopped: row.state === 'reimaging' && !reimageRequested });
        break;
      case 'draining':
        row = rowOf(await beginStop(ctx.db, row.id, { ...options, taskId: null }));
        break;
      case 'stopping':
        row = await stop(ctx, row);
        row = await requestReimage(row);
        break;
      case 'stopped':
      case 'released':
        row = await requestReimage(await settle(ctx, row));
        break;
      case 'failed':
        row = rowOf(await requestDelete(ctx.db, row.id, options));
        break;
      case 'deleting':
        row = await deleteMachine(ctx, row);
        break;
      default:
        throw new Error(`machine ${row.id} is in unknown state ${row.state}`);
    }
  }
  if (!row) return 'gone';
  throw new Error(`machine ${row.id} did not settle`);

  /** Settling chose reimage: ask the provider now, and remember that this call did. */
  async function requestReimage(settled: MachineRow | null): Promise<MachineRow | null> {
    if (settled?.state !== 'reimaging') return settled;
    reimageRequested = true;
    return reimage(ctx, settled);
  }
}
