// The ARM emulator's chaos faults, as sandfleet's azure adapter meets them: long-running
// operations that fail or never finish, VMs that die, capacity changed behind the adapter's
// back, and the managed identity endpoint the chaos daemons authenticate through.
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmssProvider } from '../../src/providers/azure/vmss-provider.js';
import { isProviderError } from '../../src/providers/errors.js';
import type { AdoptionLedger } from '../../src/providers/types.js';
import { makeTestCertificate, type TestCertificate } from '../emulators/arm/certificate.js';
import { ArmEmulator } from '../emulators/arm/server.js';
import { until } from '../support/until.js';

const SUB = '00000000-0000-4000-8000-00000000fa17';

/** The database's part: which machine holds which instance. */
class Ledger implements AdoptionLedger {
  readonly rows = new Map<string, string>();
  providerIdOf = (machineId: string) => Promise.resolve(this.rows.get(machineId) ?? null);
  adopted = () => Promise.resolve(new Set(this.rows.values()) as ReadonlySet<string>);
}

describe('ARM emulator faults', () => {
  let certificate: TestCertificate;
  let arm: ArmEmulator;
  let endpoint: string;
  beforeAll(async () => {
    certificate = makeTestCertificate();
    arm = new ArmEmulator({ certificate, operationMs: 20, bootDelayMs: 10, seed: 7, budget: 'unlimited' });
    endpoint = await arm.start();
  });
  afterAll(async () => {
    await arm?.stop();
  });

  /** A pool of its own (its own scale set), as a daemon builds it. */
  const pool = (extra: Record<string, unknown> = {}) => {
    const ledger = new Ledger();
    const name = `p-${randomUUID().slice(0, 8)}`;
    const provider = new VmssProvider({
      cluster: 'faults',
      pool: name,
      adoption: ledger,
      credential: { getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) },
      tlsOptions: { ca: certificate.cert },
      settings: {
        subscriptionId: SUB, resourceGroup: 'rg-faults', location: 'westeurope', vmSize: 'Standard_D2s_v5',
        image: { publisher: 'Canonical', offer: 'ubuntu', sku: 'server' }, subnetId: `/subscriptions/${SUB}/x/subnets/s`,
        sshPublicKey: 'ssh-ed25519 AAAA test', endpoint, pollIntervalMs: 5, maxRetries: 0, ...extra,
      },
    });
    const create = async (machineId: string) => {
      const instance = await provider.create({ machineId, name: machineId });
      ledger.rows.set(machineId, instance.providerId);
      return instance;
    };
    return { provider, ledger, create, scaleSet: `sf-faults-${name}` };
  };

  it('operationFailureRate: the operation ends Failed with InternalExecutionError; cleared, the next one succeeds', async () => {
    const p = pool();
    await p.create('m-0');
    arm.faults = { operationFailureRate: 1 };
    const failed = await p.create('m-1').catch((e: unknown) => e);
    arm.faults = {};
    // Azure's own fault, which it says to retry: retryable, so the machine is not thrown away.
    expect(isProviderError(failed) && failed.retryable).toBe(true);
    expect(String((failed as Error).message)).toContain('InternalExecutionError');
    // Half of the failures acted first: the grow may have happened, and a retry finds that VM.
    await p.create('m-1');
    expect(arm.liveInstances(p.scaleSet).length).toBeGreaterThanOrEqual(2);
  });

  it('operationsHang: the adapter gives up at operationTimeoutS; cleared, the operation completes', async () => {
    const p = pool({ operationTimeoutS: 1 });
    await p.create('m-0');
    arm.faults = { operationsHang: true };
    const started = Date.now();
    const hung = await p.create('m-1').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isProviderError(hung) && hung.retryable).toBe(true);
    expect(arm.liveInstances(p.scaleSet)).toHaveLength(1);
    arm.faults = {};
    expect(arm.liveInstances(p.scaleSet)).toHaveLength(2);
    await p.create('m-1');
  });

  it('killInstances: a Spot scale set with evictionPolicy Delete loses the VM; a regular one restarts it in place', async () => {
    const spot = pool({ spot: { maxPrice: -1 } });
    const regular = pool();
    const a = await spot.create('m-0');
    const b = await regular.create('m-0');
    const running = (set: string) => arm.liveInstances(set).every((i) => i.power === 'running');
    await until(() => Promise.resolve(running(spot.scaleSet) && running(regular.scaleSet)), 5000);
    const dead = arm.killInstances(1000);
    expect(dead).toEqual(expect.arrayContaining([a.providerId, b.providerId]));
    // Synchronously after the kill, before the 10 ms boot delay: the regular VM is restarting.
    expect(arm.liveInstances(regular.scaleSet)).toEqual([expect.objectContaining({ id: b.providerId, power: 'starting' })]);
    const gone = await spot.provider.get(a.providerId).catch((e: unknown) => e);
    expect(isProviderError(gone, 'not_found')).toBe(true);
    await until(async () => (await regular.provider.get(b.providerId)).state === 'running', 5000);
    expect(arm.liveInstances(regular.scaleSet)).toEqual([expect.objectContaining({ id: b.providerId, power: 'running' })]);
  });

  it('changeCapacity: shrinking deletes the highest instance ids, growing adds VMs nobody holds', async () => {
    const p = pool();
    await p.create('m-0');
    await p.create('m-1');
    const group = `rg-alone-${randomUUID().slice(0, 8)}`;
    const alone = pool({ resourceGroup: group });
    const first = await alone.create('m-0');
    await alone.create('m-1');
    expect(arm.changeCapacity(-1, group)).toMatchObject({ from: 2, to: 1 });
    expect((await alone.provider.list()).map((i) => i.providerId)).toEqual([first.providerId]);
    expect(arm.changeCapacity(2, group)).toMatchObject({ from: 1, to: 3 });
    const listed = await alone.provider.list();
    expect(listed).toHaveLength(3);
    const added = listed.filter((i) => i.providerId !== first.providerId);
    expect(added.every((i) => i.machineId === null && !alone.ledger.rows.has(i.providerId))).toBe(true);
    // The other resource group's scale set was not touched.
    expect(arm.liveInstances(p.scaleSet)).toHaveLength(2);
  });

  it('serves App Service managed identity tokens to requests with the identity secret only', async () => {
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const url = `${arm.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`;
        https
          .get(url, { ca: certificate.cert, headers }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
          })
          .on('error', reject);
      });
    expect((await get({})).status).toBe(401);
    const ok = await get({ 'x-identity-header': arm.identitySecret });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', resource: 'https://management.azure.com' });
    expect(Number(ok.body.expires_on)).toBeGreaterThan(Date.now() / 1000);
  });
});
