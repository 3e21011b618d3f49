// Converge: drive a machine from wherever it is to a resting state (ready, leased, or gone),
// finishing what a crashed worker left half done. Each step is the same conditional phase the
// normal path uses, so running it twice, or beside the normal path, changes nothing twice.
import { beginStop, getMachine, releaseMachine } from '../../machinery/index.js';
import type { LifecycleContext } from './context.js';
import { provision } from './provision.js';
import { awaitReady, type ReadinessOptions } from './readiness.js';
import { deleteMachine, recycle, stop } from './teardown.js';

export type Resting = 'ready' | 'leased' | 'gone';

export async function converge(ctx: LifecycleContext, machineId: string, readiness: ReadinessOptions): Promise<Resting> {
  for (let step = 0; step < 12; step++) {
    const machine = await getMachine(ctx.db, machineId);
    if (!machine) return 'gone';
    switch (machine.state) {
      case 'ready':
      case 'leased':
        return machine.state;
      case 'provisioning':
        await provision(ctx, machineId);
        break;
      case 'booting':
      case 'reimaging':
        await awaitReady(ctx, machineId, readiness);
        break;
      case 'draining':
        await beginStop(ctx.db, machineId, { actor: ctx.actor, taskId: null });
        break;
      case 'stopping':
        await stop(ctx, machineId);
        break;
      case 'stopped':
        // The row says which lease ends here: an id plus the expected task, not a copy.
        await releaseMachine(ctx.db, { machineId, taskId: machine.taskId }, { actor: ctx.actor });
        break;
      case 'released':
        await recycle(ctx, machineId, readiness);
        break;
      case 'failed':
      case 'deleting':
        await deleteMachine(ctx, machineId);
        break;
    }
  }
  throw new Error(`machine ${machineId} did not settle`);
}
