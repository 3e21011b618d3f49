// EC2 instances as sandfleet instances: EC2's states mapped to ours, the machine and launch from
// the tags. An answer we cannot map is refused as malformed rather than guessed at.
import type { Instance as Ec2Instance } from '@aws-sdk/client-ec2';
import { malformed } from '../errors.js';
import { TAG, type Instance, type InstanceState } from '../types.js';

const EC2_STATES: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  'shutting-down': 'terminating',
  terminated: 'terminated',
};

/** An instance as EC2 described it; an answer without its id or in a state EC2 does not document is refused. */
export function toInstance(i: Ec2Instance): Instance {
  const tags = new Map((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  if (!i.InstanceId) throw malformed('ec2 answered an instance without an InstanceId', { operation: 'DescribeInstances' });
  const state = EC2_STATES[i.State?.Name ?? ''];
  if (!state) throw malformed(`ec2 answered instance ${i.InstanceId} in state "${i.State?.Name ?? '(none)'}", which EC2 does not have`, { operation: 'DescribeInstances' });
  return {
    providerId: i.InstanceId,
    state,
    ip: i.PrivateIpAddress ?? null,
    machineId: tags.get(TAG.machine) ?? null,
    launchId: tags.get(TAG.launch) ?? null,
    launchedAt: i.LaunchTime ?? null,
  };
}
