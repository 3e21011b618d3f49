// What only the aws adapter does, over the wire against the EC2 emulator: spot → on-demand and
// next-subnet fallback, adopting an instance an earlier offering launched, pagination, batching.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../src/providers/aws/ec2-provider.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';

let emulator: Ec2Emulator;
let endpoint: string;
beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDSANDFLEETTEST';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'not-a-secret';
  emulator = new Ec2Emulator({ bootDelayMs: 5, budget: 'unlimited' });
  endpoint = await emulator.start();
});
afterAll(async () => {
  await emulator?.stop();
});

const provider = (pool: string, extra: Record<string, unknown> = {}) =>
  new Ec2Provider({
    cluster: 'c',
    pool,
    settings: { region: 'eu-west-1', endpoint, imageId: 'ami-0abc', instanceType: 'c6i.large', subnetIds: ['subnet-0aaa', 'subnet-0bbb'], spot: { maxPrice: '0.10' }, ...extra },
  });
const machine = () => ({ machineId: randomUUID(), name: 'sf-test' });
const launched = (id: string) => emulator.liveInstances().find((i) => i.id === id)!;

describe('aws adapter', () => {
  it('launches spot in the first subnet with capacity', async () => {
    emulator.faults = { exhausted: ['subnet-0aaa'] };
    const created = await provider('fallback').create(machine());
    emulator.faults = {};
    expect(launched(created.providerId)).toMatchObject({ lifecycle: 'spot', subnetId: 'subnet-0bbb' });
  });

  it('falls back to on-demand when spot has no capacity anywhere', async () => {
    emulator.faults = { exhausted: ['spot'] };
    const created = await provider('fallback').create(machine());
    emulator.faults = {};
    expect(launched(created.providerId)).toMatchObject({ lifecycle: 'on-demand', subnetId: 'subnet-0aaa' });
  });

  it('does not fall back when told not to, and says there is no capacity', async () => {
    emulator.faults = { exhausted: ['spot'] };
    const failed = await provider('nofallback', { spot: { fallbackToOnDemand: false } }).create(machine()).catch((e: unknown) => e);
    emulator.faults = {};
    expect(failed).toMatchObject({ kind: 'capacity' });
  });

  it('adopts the instance an earlier offering launched instead of launching a second', async () => {
    const req = machine();
    emulator.faults = { exhausted: ['subnet-0aaa'] };
    const first = await provider('adopt').create(req);
    // Capacity returns; a restarted daemon repeats the create, whose first offering now differs
    // from the one that launched: EC2 answers IdempotentParameterMismatch, and we adopt.
    emulator.faults = {};
    const again = await provider('adopt').create(req);
    expect(again.providerId).toBe(first.providerId);
    expect(emulator.calls.some((c) => c.action === 'RunInstances' && c.status === 400)).toBe(true);
    expect(emulator.liveInstances().filter((i) => i.tags['sandfleet:machine'] === req.machineId)).toHaveLength(1);
  });

  it('lists across pages, only its own pool', async () => {
    const p = provider('paged', { listPageSize: 5 });
    const created = await Promise.all(Array.from({ length: 13 }, () => p.create(machine())));
    await provider('other-pool').create(machine());
    const pagesBefore = emulator.calls.filter((c) => c.action === 'DescribeInstances').length;
    const listed = await p.list();
    expect(listed.map((i) => i.providerId).sort()).toEqual(created.map((c) => c.providerId).sort());
    expect(emulator.calls.filter((c) => c.action === 'DescribeInstances').length - pagesBefore).toBe(3);
  });

  it('batches concurrent deletes into few TerminateInstances calls, even with unknown ids among them', async () => {
    const p = provider('batch');
    const created = await Promise.all(Array.from({ length: 40 }, () => p.create(machine())));
    const before = emulator.calls.filter((c) => c.action === 'TerminateInstances').length;
    await Promise.all([...created.map((c) => p.delete(c.providerId)), p.delete('i-0000000000000001')]);
    const calls = emulator.calls.filter((c) => c.action === 'TerminateInstances').length - before;
    // One call for all, refused for the unknown id, then one for the rest.
    expect(calls).toBeLessThanOrEqual(3);
    expect(created.every((c) => ['shutting-down', 'terminated'].includes(launched(c.providerId)?.state ?? 'terminated'))).toBe(true);
  });
});

describe('aws adapter under EC2 documented budget', () => {
  it('is refused RequestLimitExceeded past the RunInstances burst, classified throttled with a wait, and served again once the bucket refills', async () => {
    const metered = new Ec2Emulator({ bootDelayMs: 5 });
    const at = await metered.start();
    try {
      const p = new Ec2Provider({ cluster: 'c', pool: 'metered', settings: { region: 'eu-west-1', endpoint: at, imageId: 'ami-0abc', instanceType: 'c6i.large', subnetIds: ['subnet-0aaa'], maxAttempts: 1 } });
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => p.create(machine())));
      const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o).reason as unknown);
      // The documented RunInstances bucket holds 5 calls.
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
      expect(refused).toHaveLength(3);
      for (const error of refused) expect(error).toMatchObject({ kind: 'throttled', details: { code: 'RequestLimitExceeded' } });
      expect(metered.throttledResponses).toBe(3);
      // The account's budget restored (say, another caller stopped spending): served again.
      metered.budget!.resize({ RunInstances: { burst: 5, perSecond: 1000 } });
      await expect(p.create(machine())).resolves.toMatchObject({ providerId: expect.stringMatching(/^i-/) });
    } finally {
      await metered.stop();
    }
  });
});

describe('aws adapter against an endpoint that never answers', () => {
  it('ends the call at its request timeout as a transient error', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const p = new Ec2Provider({ cluster: 'c', pool: 'silent', settings: { region: 'eu-west-1', endpoint: `http://127.0.0.1:${port}`, imageId: 'ami-0abc', instanceType: 'c6i.large', subnetIds: ['subnet-0aaa'], maxAttempts: 1, requestTimeoutS: 1 } });
      const started = performance.now();
      const error = await p.get('i-0123456789abcdef0').catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: 'transient' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      silent.close();
    }
  });
});

describe('aws adapter given answers that break EC2\'s contract', () => {
  it.each([
    ['unknown-state', 'get', /state "hibernated", which EC2 does not have/],
    ['missing-id', 'get', /without an InstanceId/],
    ['endless-pages', 'list', /page token .* a second time/],
  ] as const)('refuses %s as a named MalformedResponse, never as gone', async (malformed, call, message) => {
    const p = provider(`malformed-${malformed}`, { listPageSize: 5 });
    const created = await p.create(machine());
    await p.get(created.providerId);
    emulator.faults = { malformed };
    try {
      const error = await (call === 'get' ? p.get(created.providerId) : p.list()).catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: 'transient', details: { code: 'MalformedResponse' } });
      expect((error as Error).message).toMatch(message);
    } finally {
      emulator.faults = {};
    }
    // The answer whole again, the instance is there as it was.
    await expect(p.get(created.providerId)).resolves.toMatchObject({ providerId: created.providerId });
  });
});
