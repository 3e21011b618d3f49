import { expect, it } from 'vitest';
import { providerContract } from './contract.js';
import { awsPolicyGrants, compare } from './permissions.js';
import { awsTarget } from './targets.js';

providerContract('aws', awsTarget, (target) => {
  it('sends only what infra/aws/iam-policy.json grants, and the policy grants nothing unused', () => {
    expect(compare(target().permissionsUsed(), awsPolicyGrants())).toEqual({ missing: [], unused: [] });
  });
});
