// What only the azure adapter does, against the ARM emulator. Two daemons create machines in one scale set at once. Each hands out instances it listed;
// the database (here: a ledger enforcing what the unique (pool, provider_id) index enforces)
// refuses a second adoption of one instance, and the loser's create is simply retried.
// Every machine ends with its own instance, and the scale set never grows past what was asked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { VmssProvider } from '../../src/providers/azure/vmss-provider.js';
import { isProviderError } from '../../src/providers/errors.js';
import type { AdoptionLedger } from '../../src/providers/types.js';
import { makeTestCertificate, type TestCertificate } from '../emulators/arm/certificate.js';
import { ArmEmulator } from '../emulators/arm/server.js';

const SUB = '00000000-0000-4000-8000-00000000beef';

class UniqueLedger implements AdoptionLedger {
  readonly byMachine = new Map<string, string>();
  readonly byInstance = new Map<string, string>();
  refused = 0;
  providerIdOf = (machineId: string) => Promise.resolve(this.byMachine.get(machineId) ?? null);
  adopted = () => Promise.resolve(new Set(this.byInstance.keys()) as ReadonlySet<string>);
  /** markBooting: one row per instance, as the unique index guarantees. */
  record(machineId: string, providerId: string): boolean {
    const holder = this.byInstance.get(providerId);
    if (holder && holder !== machineId) {
      this.refused++;
      return false;
    }
    this.byInstance.set(providerId, machineId);
    this.byMachine.set(machineId, providerId);
    return true;
  }
}

describe('azure hand-out across daemons', () => {
  let certificate: TestCertificate;
  let arm: ArmEmulator;
  let endpoint: string;
  beforeAll(async () => {
    certificate = makeTestCertificate();
    arm = new ArmEmulator({ certificate, operationMs: 10, bootDelayMs: 10, seed: 5 });
    endpoint = await arm.start();
  });
  afterAll(async () => {
    await arm?.stop();
  });

  const daemon = (ledger: AdoptionLedger, pool = 'shared', extra: Record<string, unknown> = {}) =>
    new VmssProvider({
      cluster: 'c',
      pool,
      adoption: ledger,
      credential: { getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) },
      tlsOptions: { ca: certificate.cert },
      settings: {
        subscriptionId: SUB, resourceGroup: 'rg', location: 'westeurope', vmSize: 'Standard_D2s_v5',
        image: { publisher: 'Canonical', offer: 'ubuntu', sku: 'server' }, subnetId: `/subscriptions/${SUB}/x/subnets/s`,
        sshPublicKey: 'ssh-ed25519 AAAA test', endpoint, pollIntervalMs: 5, maxRetries: 3, ...extra,
      },
    });

  /** `n` machines created at once, each recorded as its row would record it. */
  const createRecorded = (p: VmssProvider, ledger: UniqueLedger, n: number) =>
    Promise.all(Array.from({ length: n }, async () => {
      const machineId = randomUUID();
      const instance = await p.create({ machineId, name: 'x' });
      ledger.record(machineId, instance.providerId);
      return instance;
    }));

  it('gives every machine its own instance and never overshoots, with throttling and 5xx', async () => {
    const ledger = new UniqueLedger();
    const daemons = [daemon(ledger), daemon(ledger)];
    arm.faults = { throttleRate: 0.1, serverErrorRate: 0.05 };
    const machines = Array.from({ length: 30 }, (_, i) => ({ machineId: randomUUID(), daemon: daemons[i % 2]! }));
    const createRetrying = async (m: (typeof machines)[number]) => {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          return await m.daemon.create({ machineId: m.machineId, name: m.machineId.slice(0, 8) });
        } catch (error) {
          if (!isProviderError(error) || !error.retryable) throw error;
        }
      }
      throw new Error(`machine ${m.machineId} never got an instance`);
    };
    // Phase 1: both daemons hand out while every row's write is still in flight.
    const first = await Promise.all(machines.map(createRetrying));
    // Phase 2: the writes land; the unique index refuses the second adoption of an instance.
    const losers = machines.filter((m, i) => !ledger.record(m.machineId, first[i]!.providerId));
    expect(ledger.refused).toBeGreaterThan(0);
    // Phase 3: the losers' creates are retried, as the scheduler retries a refused adoption.
    for (let round = 0; losers.length && round < 20; round++) {
      const retried = await Promise.all(losers.map(createRetrying));
      const still = losers.filter((m, i) => !ledger.record(m.machineId, retried[i]!.providerId));
      losers.splice(0, losers.length, ...still);
    }
    arm.faults = {};
    expect(losers).toEqual([]);
    expect(ledger.byMachine.size).toBe(30);
    expect(new Set(ledger.byMachine.values()).size).toBe(30);
    // Capacity is set absolutely from a fresh read, so concurrent grows never add up past the need.
    expect(arm.liveInstances('sf-c-shared')).toHaveLength(30);
  });

  it('creates the scale set from the pool settings: gallery image, subnet, spot with eviction Delete, ephemeral OS disk', async () => {
    const gallery = `/subscriptions/${SUB}/resourceGroups/img/providers/Microsoft.Compute/galleries/g/images/i/versions/2.0.0`;
    const p = daemon(new UniqueLedger(), 'modelled', { image: { galleryImageVersionId: gallery }, spot: { maxPrice: 0.05 }, ephemeralOsDisk: true });
    await p.create({ machineId: randomUUID(), name: 'x' });
    const put = arm.calls.find((c) => c.method === 'PUT' && c.status < 300 && JSON.stringify(c.body).includes('modelled'));
    expect(put?.body).toMatchObject({
      tags: { 'sandfleet:cluster': 'c', 'sandfleet:pool': 'modelled' },
      sku: { name: 'Standard_D2s_v5', capacity: 0 },
      properties: {
        orchestrationMode: 'Uniform',
        overprovision: false,
        virtualMachineProfile: {
          priority: 'Spot',
          evictionPolicy: 'Delete',
          billingProfile: { maxPrice: 0.05 },
          storageProfile: { imageReference: { id: gallery }, osDisk: { diffDiskSettings: { option: 'Local' } } },
          networkProfile: { networkInterfaceConfigurations: [{ properties: { ipConfigurations: [{ properties: { subnet: { id: `/subscriptions/${SUB}/x/subnets/s` } } }] } }] },
        },
      },
    });
  });

  it('keeps at most the allowed operations in flight on a scale set, where more would be pre-empted', async () => {
    const ledger = new UniqueLedger();
    const slow = new ArmEmulator({ certificate, operationMs: 60, bootDelayMs: 5, maxConcurrentOperations: 4, budget: 'unlimited' });
    const slowEndpoint = await slow.start();
    try {
      const limited = daemon(ledger, 'limited', { endpoint: slowEndpoint, maxRetries: 0 });
      const instances = await createRecorded(limited, ledger, 12);
      // Stops, reimages, deletes and a grow at once: each kind one operation at a time, together within the limit.
      await Promise.all([
        ...instances.slice(0, 4).map((i) => limited.stop(i.providerId)),
        ...instances.slice(4, 8).map((i) => limited.reimage(i.providerId)),
        ...instances.slice(8).map((i) => limited.delete(i.providerId)),
        createRecorded(limited, ledger, 2),
      ]);
      expect(slow.calls.filter((c) => c.status === 409)).toEqual([]);
      // Control: eight daemons, each reimaging one instance at once, are refused by Azure's
      // limit. Operations now last long enough that the eight certainly overlap.
      slow.operationMs = 3000;
      const results = await Promise.allSettled(instances.slice(0, 8).map((i) => daemon(ledger, 'limited', { endpoint: slowEndpoint, maxRetries: 0 }).reimage(i.providerId)));
      expect(slow.calls.filter((c) => c.status === 409).length).toBeGreaterThan(0);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r).reason as { kind?: string }).every((e) => e.kind === 'transient')).toBe(true);
    } finally {
      await slow.stop();
    }
  });

  it('stops and reimages the instances asked for meanwhile with one scale set operation each, an unknown id settled on its own', async () => {
    const ledger = new UniqueLedger();
    const p = daemon(ledger, 'batched');
    const instances = await createRecorded(p, ledger, 20);
    const unknown = instances[0]!.providerId.replace(/\/virtualMachines\/[^/]+$/, '/virtualMachines/999999');
    const since = arm.calls.length;
    const stops = await Promise.allSettled([...instances.map((i) => p.stop(i.providerId)), p.stop(unknown)]);
    expect(stops.slice(0, 20).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(stops[20]).toMatchObject({ status: 'rejected', reason: { kind: 'not_found' } });
    const powerOffs = arm.calls.slice(since).filter((c) => c.method === 'POST');
    // One refused for the unknown id, one for the rest; a slow machine may split them over two windows.
    expect(powerOffs.every((c) => /virtualMachineScaleSets\/poweroff\/action$/i.test(c.action))).toBe(true);
    expect(powerOffs.filter((c) => c.status === 202).length).toBeLessThanOrEqual(2);
    expect(powerOffs.filter((c) => c.status === 404).length).toBeLessThanOrEqual(2);
    const instanceIds = new Set(instances.map((i) => i.providerId));
    expect(arm.liveInstances('sf-c-batched').filter((v) => instanceIds.has(v.id)).every((v) => v.power === 'stopped')).toBe(true);

    const reimagedFrom = arm.calls.length;
    await Promise.all(instances.map((i) => p.reimage(i.providerId)));
    const reimages = arm.calls.slice(reimagedFrom).filter((c) => c.method === 'POST');
    expect(reimages.every((c) => /virtualMachineScaleSets\/reimage\/action$/i.test(c.action) && c.status === 202)).toBe(true);
    expect(reimages.length).toBeLessThanOrEqual(2);
    expect(reimages.flatMap((c) => (c.body as { instanceIds: string[] }).instanceIds).sort()).toEqual(instances.map((i) => i.providerId.split('/').pop()).sort());
  });

  it("is answered 429 with Retry-After and the remaining-reads header when the subscription's read budget is spent, classified throttled", async () => {
    const metered = new ArmEmulator({ certificate, operationMs: 5, bootDelayMs: 5, budget: { reads: { burst: 2, perSecond: 0.25 } } });
    const at = await metered.start();
    try {
      const p = daemon(new UniqueLedger(), 'metered', { endpoint: at, maxRetries: 0 });
      const outcomes = [];
      for (let i = 0; i < 4; i++) outcomes.push(await p.list().then(() => 'ok', (e: unknown) => e));
      const refused = outcomes.filter((o) => o !== 'ok');
      expect(refused.length).toBeGreaterThan(0);
      // 0.25 reads/s: a token returns in 4 s, said as Retry-After in whole seconds.
      for (const error of refused) expect(error).toMatchObject({ kind: 'throttled', details: { code: 'TooManyRequests', retryAfterMs: 4000 } });
      // A listing is several reads (the scale set, its instances, their addresses); each refused one was a 429.
      const throttled = metered.calls.filter((c) => c.throttled).length;
      expect(throttled).toBeGreaterThanOrEqual(refused.length);
      expect(metered.budgetOf(SUB)!.refused.get('reads')).toBe(throttled);
      const reads = metered.calls.filter((c) => c.method === 'GET');
      expect(reads[0]!.remaining).toEqual({ 'x-ms-ratelimit-remaining-subscription-reads': '1' });
      expect(reads.find((c) => c.throttled)!.remaining).toEqual({ 'x-ms-ratelimit-remaining-subscription-reads': '0' });
    } finally {
      await metered.stop();
    }
  });

  it('answers the status reads of a window with one VM listing and one NIC listing, whatever the pool size', async () => {
    const ledger = new UniqueLedger();
    const p = daemon(ledger, 'reads');
    const created = await Promise.all(Array.from({ length: 20 }, async () => {
      const machineId = randomUUID();
      const instance = await p.create({ machineId, name: 'r' });
      ledger.record(machineId, instance.providerId);
      return instance;
    }));
    const before = arm.calls.length;
    const seen = await Promise.all(created.map((c) => p.get(c.providerId)));
    const reads = arm.calls.slice(before).filter((c) => c.method === 'GET');
    // Two reads for all twenty (a slow machine may split them over two windows).
    expect(reads.length).toBeLessThanOrEqual(4);
    expect(reads.some((c) => /networkInterfaces/i.test(c.action))).toBe(true);
    expect(seen.map((i) => i.providerId)).toEqual(created.map((c) => c.providerId));
    expect(seen.every((i) => typeof i.ip === 'string' && i.ip.length > 0)).toBe(true);
    // The addresses are known now: the next window's reads list the VMs only, and answer the same addresses.
    const later = arm.calls.length;
    const again = await Promise.all(created.map((c) => p.get(c.providerId)));
    const rereads = arm.calls.slice(later).filter((c) => c.method === 'GET');
    expect(rereads.length).toBeGreaterThan(0);
    expect(rereads.filter((c) => /networkInterfaces/i.test(c.action))).toEqual([]);
    expect(again.map((i) => i.ip)).toEqual(seen.map((i) => i.ip));
  });

  it('ends a read of an endpoint that never answers at its read timeout, as a transient error', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const p = daemon(new UniqueLedger(), 'silent', { endpoint: `https://127.0.0.1:${port}`, maxRetries: 0, readTimeoutS: 1 });
      const started = performance.now();
      const error = await p.list().catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: 'transient' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      silent.close();
    }
  });

  it.each([
    ['unknown-state', /power state "PowerState\/hibernated", which Azure does not have/],
    ['missing-id', /without an id/],
    ['endless-pages', /next page link .* a second time/],
  ] as const)('refuses a listing with %s as a named MalformedResponse, never as gone', async (malformed, message) => {
    const ledger = new UniqueLedger();
    const p = daemon(ledger, `malformed-${malformed}`);
    const machineId = randomUUID();
    const created = await p.create({ machineId, name: 'm' });
    ledger.record(machineId, created.providerId);
    arm.faults = { malformed };
    try {
      for (const read of [() => p.get(created.providerId), () => p.list()]) {
        const error = await read().catch((e: unknown) => e);
        expect(error).toMatchObject({ kind: 'transient', details: { code: 'MalformedResponse' } });
        expect((error as Error).message).toMatch(message);
      }
    } finally {
      arm.faults = {};
    }
    // The answers whole again, the instance is there as it was.
    await expect(p.get(created.providerId)).resolves.toMatchObject({ providerId: created.providerId });
  });
});
