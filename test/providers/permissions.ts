// What the adapters' recorded calls require of IAM / Azure RBAC, and what infra/ grants.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RecordedArmCall } from '../emulators/arm/server.js';
import type { RecordedCall } from '../emulators/ec2/server.js';

const root = path.resolve(import.meta.dirname, '../..');

export function awsPermissionsUsed(calls: RecordedCall[]): Set<string> {
  const used = new Set<string>();
  for (const call of calls) {
    used.add(`ec2:${call.action}`);
    // Tags on launch are authorized as ec2:CreateTags with ec2:CreateAction = RunInstances.
    if (call.action === 'RunInstances' && Object.keys(call.params).some((k) => k.startsWith('TagSpecification.'))) used.add('ec2:CreateTags');
  }
  return used;
}

export function azurePermissionsUsed(calls: RecordedArmCall[]): Set<string> {
  const used = new Set<string>();
  for (const call of calls) {
    used.add(call.action.toLowerCase());
    // Creating a scale set makes Azure check access to what its model references.
    const text = JSON.stringify(call.body ?? {});
    if (call.method === 'PUT' && /"subnet":\{"id":"[^"]+\/subnets\//i.test(text)) used.add('microsoft.network/virtualnetworks/subnets/join/action');
    if (call.method === 'PUT' && /"imageReference":\{"id":"[^"]+\/galleries\/[^"]+\/versions\//i.test(text)) used.add('microsoft.compute/galleries/images/versions/read');
  }
  return used;
}

export function awsPolicyGrants(): Set<string> {
  const policy = JSON.parse(readFileSync(path.join(root, 'infra/aws/iam-policy.json'), 'utf8')) as { Statement: { Action: string | string[] }[] };
  return new Set(policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));
}

export function azureRoleGrants(): Set<string> {
  const role = JSON.parse(readFileSync(path.join(root, 'infra/azure/role.json'), 'utf8')) as { Actions: string[] };
  return new Set(role.Actions.map((a) => a.toLowerCase()));
}

/** Missing: used but not granted. Unused: granted but never used. Both must be empty. */
export function compare(used: Set<string>, granted: Set<string>): { missing: string[]; unused: string[] } {
  return { missing: [...used].filter((u) => !granted.has(u)).sort(), unused: [...granted].filter((g) => !used.has(g)).sort() };
}
