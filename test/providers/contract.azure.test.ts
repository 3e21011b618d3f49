import { expect, it } from 'vitest';
import { providerContract } from './contract.js';
import { azureRoleGrants, compare } from './permissions.js';
import { azureTarget } from './targets.js';

providerContract('azure', azureTarget, (target) => {
  it('sends only what infra/azure/role.json grants, and the role grants nothing unused', () => {
    expect(compare(target().permissionsUsed(), azureRoleGrants())).toEqual({ missing: [], unused: [] });
  });
});
