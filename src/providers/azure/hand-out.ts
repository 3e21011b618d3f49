// Which machine gets which scale set instance. A scale set grows by capacity, not per machine,
// so a batch of creates is one grow and then a deterministic hand-out: the lowest machine id
// gets the lowest free instance id. Instances no row holds yet are handed out before anything
// grows, so a create repeated after a crash finds its instance instead of growing again; the
// database's unique (pool, provider_id) refuses a second adoption, and the loser retries.
import type { VirtualMachineScaleSetVM } from '@azure/arm-compute';
import type { BatchResult } from '../batcher.js';
import { transient } from '../errors.js';
import { Semaphore } from '../semaphore.js';
import type { AdoptionLedger, Instance } from '../types.js';
import type { LaunchLedger } from '../visibility.js';
import { classifyAzureError } from './errors.js';
import { toInstance } from './instances.js';
import type { ScaleSet } from './scale-set.js';

export class InstanceHandOut {
  /** Grows and hand-outs happen one batch at a time, so two batches never hand out one instance. */
  private readonly turn = new Semaphore(1);
  /** Instances handed to a machine whose row may not record them yet. */
  private readonly handedOut = new Map<string, string>();

  constructor(
    private readonly scaleSet: ScaleSet,
    private readonly adoption: AdoptionLedger,
    private readonly ledger: LaunchLedger,
  ) {}

  /** The machine an instance was handed to by this process, if its row may not say so yet. */
  holderOf(providerId: string): string | null {
    return this.handedOut.get(providerId) ?? null;
  }

  forget(providerId: string): void {
    this.handedOut.delete(providerId);
  }

  /** One grow for the whole batch, then one free instance per machine in a fixed order. */
  handOut(machineIds: string[]): Promise<Map<string, BatchResult<Instance>>> {
    return this.turn.run(async () => {
      const results = new Map<string, BatchResult<Instance>>();
      try {
        await this.scaleSet.ensure();
        const adopted = await this.adoption.adopted();
        for (const id of adopted) this.handedOut.delete(id);
        let vms = await this.scaleSet.vms();
        const waiting: string[] = [];
        for (const machineId of [...machineIds].sort()) {
          const known = (await this.adoption.providerIdOf(machineId)) ?? this.handedOutTo(machineId);
          const vm = known ? vms.find((v) => v.id === known) : undefined;
          if (vm) results.set(machineId, { ok: true, value: toInstance(vm, null, machineId) });
          else waiting.push(machineId);
        }
        let free = this.freeInstances(vms, adopted);
        let shortage: unknown;
        if (free.length < waiting.length) {
          shortage = await this.grow(waiting.length - free.length);
          vms = await this.scaleSet.vms();
          free = this.freeInstances(vms, adopted);
        }
        waiting.forEach((machineId, i) => results.set(machineId, this.give(machineId, free[i], shortage)));
      } catch (error) {
        const classified = classifyAzureError(error, 'create');
        for (const id of machineIds) if (!results.has(id)) results.set(id, { ok: false, error: classified });
      }
      return results;
    });
  }

  /**
   * Grows the scale set; a capacity error is answered, not thrown: a grow Azure filled in part
   * left instances that machines of the batch still get.
   */
  private async grow(by: number): Promise<unknown> {
    try {
      await this.scaleSet.grow(by);
      return undefined;
    } catch (error) {
      const classified = classifyAzureError(error, 'create');
      if (classified.kind !== 'capacity') throw classified;
      return classified;
    }
  }

  private give(machineId: string, vm: VirtualMachineScaleSetVM | undefined, shortage?: unknown): BatchResult<Instance> {
    // Capacity only when Azure said so: a grow refused because another daemon's moved the
    // capacity first (412) is a race, and the next hand-out grows again or finds the instance.
    if (!vm?.id) return { ok: false, error: shortage ?? transient(`scale set ${this.scaleSet.name} did not grow enough for machine ${machineId} yet`, { operation: 'virtualMachineScaleSets.update' }) };
    // A machine holds one hand-out: an earlier one it lost to another daemon is released.
    const earlier = this.handedOutTo(machineId);
    if (earlier) this.handedOut.delete(earlier);
    this.handedOut.set(vm.id, machineId);
    // Handed out from a listing: Azure has shown it, so a later NotFound means gone.
    this.ledger.recordSeen(vm.id);
    return { ok: true, value: toInstance(vm, null, machineId) };
  }

  /** Instances nobody holds, oldest (lowest instance id) first. */
  private freeInstances(vms: VirtualMachineScaleSetVM[], adopted: ReadonlySet<string>): VirtualMachineScaleSetVM[] {
    return vms
      .filter((v) => v.id && !adopted.has(v.id) && !this.handedOut.has(v.id) && v.provisioningState?.toLowerCase() !== 'deleting')
      .sort((a, b) => Number(a.instanceId) - Number(b.instanceId));
  }

  private handedOutTo(machineId: string): string | null {
    for (const [providerId, holder] of this.handedOut) if (holder === machineId) return providerId;
    return null;
  }
}
