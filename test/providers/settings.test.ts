// Bad pool settings are refused when the adapter is built, with messages that name the field.
import { describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../src/providers/aws/ec2-provider.js';
import { VmssProvider } from '../../src/providers/azure/vmss-provider.js';
import { isProviderError } from '../../src/providers/errors.js';
import { SimProvider } from '../../src/providers/sim/sim-provider.js';

function refusal(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    if (isProviderError(error, 'fatal')) return error.message;
    throw error;
  }
  throw new Error('expected the settings to be refused');
}

const adoption = { providerIdOf: () => Promise.resolve(null), adopted: () => Promise.resolve(new Set<string>()) };

describe('provider settings', () => {
  it('aws: names the region, the image and malformed subnet ids', () => {
    const message = refusal(() => new Ec2Provider({ cluster: 'c', pool: 'win', settings: { subnetIds: ['subnet_1'] } }));
    expect(message).toContain('pools.win.settings.region: region is required (for example eu-west-1)');
    expect(message).toContain('pools.win.settings.subnetIds.0: subnet ids look like subnet-0123abcd');
    const noImage = refusal(() => new Ec2Provider({ cluster: 'c', pool: 'win', settings: { region: 'eu-west-1' } }));
    expect(noImage).toContain('pools.win.settings: give either launchTemplate, or imageId and instanceType');
  });

  it('aws: rejects unknown fields rather than ignoring them', () => {
    const message = refusal(() => new Ec2Provider({ cluster: 'c', pool: 'p', settings: { region: 'eu-west-1', imageId: 'ami-0abc', instanceType: 't3.micro', secretAccessKey: 'x' } }));
    expect(message).toMatch(/pools\.p\.settings: Unrecognized key.*secretAccessKey/);
  });

  it('azure: names the subscription, the image and the missing credentials for the VM', () => {
    const message = refusal(() => new VmssProvider({ cluster: 'c', pool: 'lin', adoption, settings: { subscriptionId: 'nope', resourceGroup: 'rg', location: 'westeurope', vmSize: 'x', image: {}, subnetId: '/subscriptions/s/x' } }));
    expect(message).toContain('pools.lin.settings.subscriptionId: subscriptionId must be a subscription GUID');
    expect(message).toContain('pools.lin.settings.image');
  });

  it('sim: rejects a fault rate outside 0..1', () => {
    const message = refusal(() => new SimProvider({ cluster: 'c', pool: 'p', db: {} as never, settings: { faults: { throttleRate: 2 } } }));
    expect(message).toContain('pools.p.settings.faults.throttleRate');
  });
});
