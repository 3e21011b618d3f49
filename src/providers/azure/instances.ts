// Scale set VMs as sandfleet instances: the state from the instance view's power state, the
// address from the scale set's NIC listing, and the instance id inside a provider id.
import type { VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { fatal } from '../errors.js';
import type { Instance, InstanceState } from '../types.js';

export function toInstance(vm: VirtualMachineScaleSetVM, ip: string | null, machineId: string | null): Instance {
  return { providerId: vm.id ?? '', state: stateOf(vm), ip, machineId, launchedAt: vm.timeCreated ?? null };
}

export function stateOf(vm: VirtualMachineScaleSetVM): InstanceState {
  if (vm.provisioningState?.toLowerCase() === 'deleting') return 'terminating';
  const power = vm.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.split('/')[1];
  switch (power) {
    case 'running':
      return 'running';
    case 'stopping':
    case 'deallocating':
      return 'stopping';
    case 'stopped':
    case 'deallocated':
      return 'stopped';
    default:
      return 'pending';
  }
}

/** The instance id of a provider id of `scaleSet`; any other id is a caller's error. */
export function instanceIdOf(providerId: string, scaleSet: string): string {
  const m = /\/virtualMachineScaleSets\/([^/]+)\/virtualMachines\/([^/]+)$/i.exec(providerId);
  if (!m || m[1]?.toLowerCase() !== scaleSet.toLowerCase()) {
    throw fatal(`provider id ${providerId} is not an instance of scale set ${scaleSet}`, { code: 'InvalidProviderId' });
  }
  return m[2]!;
}
