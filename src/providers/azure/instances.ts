// Scale set VMs as sandfleet instances: the state from the instance view's power state, the
// address from the scale set's NIC listing, and the instance id inside a provider id. A VM the
// listing answers without its ids or in a power state Azure does not have is refused as malformed.
import type { VirtualMachineScaleSetVM } from '@azure/arm-compute';
import { fatal, malformed } from '../errors.js';
import type { Instance, InstanceState } from '../types.js';

const LIST = 'virtualMachineScaleSetVMs.list';

export function toInstance(vm: VirtualMachineScaleSetVM, ip: string | null, machineId: string | null): Instance {
  return { providerId: vm.id ?? '', state: stateOf(vm), ip, machineId, launchedAt: vm.timeCreated ?? null };
}

/** Azure's VM power states (PowerState/<code>), as sandfleet instance states. */
const POWER_STATES: Readonly<Record<string, InstanceState>> = {
  starting: 'pending',
  running: 'running',
  stopping: 'stopping',
  deallocating: 'stopping',
  stopped: 'stopped',
  deallocated: 'stopped',
  unknown: 'pending',
};

/** A VM still being created has no power state yet: pending. A power state Azure does not have is refused. */
export function stateOf(vm: VirtualMachineScaleSetVM): InstanceState {
  if (vm.provisioningState?.toLowerCase() === 'deleting') return 'terminating';
  const code = vm.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code;
  if (code === undefined) return 'pending';
  const state = POWER_STATES[code.slice('PowerState/'.length).toLowerCase()];
  if (!state) throw malformed(`azure answered VM ${vm.id ?? '(no id)'} in power state "${code}", which Azure does not have`, { operation: LIST });
  return state;
}

/** A listed VM we can map: it has its ids and a power state Azure has. Anything else refuses the whole listing. */
export function checkedVm(vm: VirtualMachineScaleSetVM): VirtualMachineScaleSetVM {
  if (!vm.id || !vm.instanceId) throw malformed(`azure listed a scale set VM without ${vm.id ? `an instanceId (${vm.id})` : 'an id'}`, { operation: LIST });
  stateOf(vm);
  return vm;
}

/** The instance id of a provider id of `scaleSet`; any other id is a caller's error. */
export function instanceIdOf(providerId: string, scaleSet: string): string {
  const m = /\/virtualMachineScaleSets\/([^/]+)\/virtualMachines\/([^/]+)$/i.exec(providerId);
  if (!m || m[1]?.toLowerCase() !== scaleSet.toLowerCase()) {
    throw fatal(`provider id ${providerId} is not an instance of scale set ${scaleSet}`, { code: 'InvalidProviderId' });
  }
  return m[2]!;
}
