// The providers the contract suite runs against, each with the means to switch its faults and
// to see, from the cloud's side, which instances are alive.
import { randomUUID } from 'node:crypto';
import { Ec2Provider } from '../../src/providers/aws/ec2-provider.js';
import { SimProvider } from '../../src/providers/sim/sim-provider.js';
import type { Provider } from '../../src/providers/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';
import { sql } from 'drizzle-orm';
import type { TokenCredential } from '@azure/core-auth';
import { VmssProvider } from '../../src/providers/azure/vmss-provider.js';
import type { AdoptionLedger } from '../../src/providers/types.js';
import { makeTestCertificate } from '../emulators/arm/certificate.js';
import { ArmEmulator } from '../emulators/arm/server.js';
import { awsPermissionsUsed, azurePermissionsUsed } from './permissions.js';

export interface Faults {
  throttleRate?: number;
  serverErrorRate?: number;
  capacityRate?: number;
  consistencyWindowMs?: number;
  authFailure?: boolean;
  /** Instances the account (the sim: the pool) may have alive at once: a launch gets what is left. */
  maxInstances?: number;
}

export interface ProviderOptions {
  /** False simulates a crash between the cloud create and the row remembering its instance. */
  recordCreates?: boolean;
  /** Attempts per API call inside the adapter (SDK retries); 1 surfaces every fault. */
  maxAttempts?: number;
  notFoundGraceS?: number;
}

export type TargetName = 'sim' | 'aws' | 'azure';

/**
 * Behaviours each cloud has, known before its target starts so that the suite marks the others
 * skipped (`it.skipIf`). ARM reads are consistent once an operation completes, so Azure has no
 * eventual-consistency window to emulate; EC2 has no reimage (the contract checks that each
 * provider's capabilities say the same).
 */
export const TARGET_SUPPORTS: Readonly<Record<TargetName, { auth: boolean; consistencyWindow: boolean; reimage: boolean }>> = {
  sim: { auth: false, consistencyWindow: true, reimage: true },
  aws: { auth: true, consistencyWindow: true, reimage: false },
  azure: { auth: true, consistencyWindow: false, reimage: true },
};

export interface Target {
  readonly name: TargetName;
  /** A fresh adapter, as a newly started process would build it. */
  provider(options?: ProviderOptions): Provider;
  setFaults(faults: Faults): void;
  /** Instances that exist and are not terminated, as the cloud sees them. */
  liveCount(): Promise<number>;
  /** Every permission the adapter's calls so far needed (IAM actions, Azure RBAC operations). */
  permissionsUsed(): Set<string>;
  /** Create requests that reached the cloud so far (RunInstances; scale set grows; sim creates). */
  createRequests(): number;
  /** The next create request (the sim: of the next adapter built) acts and then fails, as if its response were lost. */
  loseCreateResponses(): void;
  /** A well-formed id of an instance that does not exist. */
  readonly unknownId: string;
  close(): Promise<void>;
}

export const CLUSTER = 'contract';

export async function simTarget(): Promise<Target> {
  const t: TestDatabase = await createTestDatabase('sim_contract', 20);
  const pool = `pool-${randomUUID().slice(0, 8)}`;
  let faults: Faults = {};
  let creates = 0;
  let losing = false;
  return {
    name: 'sim',
    provider: (options = {}) => {
      const lostResponseRate = losing ? 1 : 0;
      losing = false;
      return new SimProvider({
        cluster: CLUSTER,
        pool,
        db: t.db,
        meter: (bucket) => {
          if (bucket === 'create') creates++;
          return Promise.resolve();
        },
        settings: {
          bootDelayMs: 30,
          stopDelayMs: 20,
          terminateDelayMs: 20,
          notFoundGraceS: options.notFoundGraceS ?? 30,
          faults: {
            seed: Math.floor(Math.random() * 1e9),
            throttleRate: faults.throttleRate ?? 0,
            transientRate: faults.serverErrorRate ?? 0,
            capacityRate: faults.capacityRate ?? 0,
            consistencyWindowMs: faults.consistencyWindowMs ?? 0,
            lostResponseRate,
            ...(faults.maxInstances === undefined ? {} : { maxInstances: faults.maxInstances }),
          },
        },
      });
    },
    setFaults: (f) => (faults = f),
    createRequests: () => creates,
    loseCreateResponses: () => {
      losing = true;
    },
    async liveCount() {
      const r = await t.db.execute(sql`
        SELECT count(*)::int AS n FROM sim_cloud.instances
        WHERE pool = ${pool} AND phase <> 'terminating' AND (dies_at IS NULL OR dies_at > now())`);
      return Number(r.rows[0]?.n);
    },
    permissionsUsed: () => new Set(),
    unknownId: 'sim-0000000000000000',
    close: () => t.drop(),
  };
}

export async function awsTarget(): Promise<Target> {
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDSANDFLEETTEST';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'not-a-secret';
  const emulator = new Ec2Emulator({ bootDelayMs: 30, stopDelayMs: 20, terminateDelayMs: 20, seed: 7, budget: 'unlimited' });
  const endpoint = await emulator.start();
  const pool = `pool-${randomUUID().slice(0, 8)}`;
  return {
    name: 'aws',
    provider: (options = {}) =>
      new Ec2Provider({
        cluster: CLUSTER,
        pool,
        settings: {
          region: 'us-east-1',
          endpoint,
          imageId: 'ami-0abc1234',
          instanceType: 't3.micro',
          subnetIds: ['subnet-0aaa', 'subnet-0bbb'],
          securityGroupIds: ['sg-0abc'],
          spot: {},
          maxAttempts: options.maxAttempts ?? 3,
          notFoundGraceS: options.notFoundGraceS ?? 30,
        },
      }),
    setFaults: (f) => {
      emulator.faults = { ...f };
    },
    createRequests: () => emulator.calls.filter((c) => c.action === 'RunInstances').length,
    loseCreateResponses: () => {
      emulator.faults = { ...emulator.faults, loseRunResponses: 1 };
    },
    liveCount: () =>
      Promise.resolve(emulator.liveInstances().filter((i) => i.tags['sandfleet:pool'] === pool && i.state !== 'shutting-down').length),
    permissionsUsed: () => awsPermissionsUsed(emulator.calls),
    unknownId: 'i-0000000000000000',
    close: () => emulator.stop(),
  };
}

export async function azureTarget(): Promise<Target> {
  const certificate = makeTestCertificate();
  const emulator = new ArmEmulator({ certificate, operationMs: 15, bootDelayMs: 30, seed: 11 });
  const endpoint = await emulator.start();
  const pool = `pool-${randomUUID().slice(0, 8)}`;
  // The database's view: which machine row holds which instance.
  const rows = new Map<string, string>();
  const adoption: AdoptionLedger = {
    providerIdOf: (machineId) => Promise.resolve(rows.get(machineId) ?? null),
    adopted: () => Promise.resolve(new Set(rows.values())),
  };
  const credential: TokenCredential = { getToken: () => Promise.resolve({ token: 'test-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const subscription = '00000000-0000-4000-8000-00000000abcd';
  return {
    name: 'azure',
    provider(options = {}) {
      const inner = new VmssProvider({
        cluster: CLUSTER,
        pool,
        adoption,
        credential,
        tlsOptions: { ca: certificate.cert },
        settings: {
          subscriptionId: subscription,
          resourceGroup: 'rg-sandfleet-test',
          location: 'westeurope',
          vmSize: 'Standard_D2s_v5',
          image: { galleryImageVersionId: `/subscriptions/${subscription}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/sandboxes/images/analysis/versions/1.0.0` },
          subnetId: `/subscriptions/${subscription}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`,
          sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE sandfleet',
          spot: { maxPrice: -1 },
          endpoint,
          pollIntervalMs: 5,
          operationTimeoutS: 30,
          maxRetries: (options.maxAttempts ?? 4) - 1,
          notFoundGraceS: options.notFoundGraceS ?? 30,
        },
      });
      // What the scheduler does around the provider: remember the instance on the row, and
      // drop the row once the instance is deleted.
      return Object.assign(Object.create(inner) as VmssProvider, {
        async create(request: Parameters<VmssProvider['create']>[0]) {
          const instance = await inner.create(request);
          if (options.recordCreates !== false) rows.set(request.machineId, instance.providerId);
          return instance;
        },
        async delete(providerId: string, lookup?: Parameters<VmssProvider['delete']>[1]) {
          await inner.delete(providerId, lookup);
          for (const [machineId, held] of rows) if (held === providerId) rows.delete(machineId);
        },
      });
    },
    setFaults: (f) => {
      emulator.faults = { ...f, retryAfterS: f.throttleRate === 1 ? 2 : 0 };
    },
    liveCount: () => Promise.resolve(emulator.liveInstances().length),
    // Growing the scale set is how Azure creates: the capacity PATCHes (the scale set's own PUT once).
    createRequests: () => emulator.calls.filter((c) => c.method === 'PATCH' && c.action === 'Microsoft.Compute/virtualMachineScaleSets/write').length,
    loseCreateResponses: () => {
      emulator.faults = { ...emulator.faults, loseCapacityResponses: 1 };
    },
    permissionsUsed: () => azurePermissionsUsed(emulator.calls),
    unknownId: `/subscriptions/${subscription}/resourceGroups/rg-sandfleet-test/providers/Microsoft.Compute/virtualMachineScaleSets/sf-${CLUSTER}-${pool}/virtualMachines/999999`,
    close: () => emulator.stop(),
  };
}
