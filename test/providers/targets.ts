// The providers the contract suite runs against, each with the means to switch its faults and
// to see, from the cloud's side, which instances are alive.
import { randomUUID } from 'node:crypto';
import { Ec2Provider } from '../../src/providers/aws/ec2-provider.js';
import { SimProvider } from '../../src/providers/sim/sim-provider.js';
import type { Provider } from '../../src/providers/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';
import { sql } from 'drizzle-orm';

export interface Faults {
  throttleRate?: number;
  serverErrorRate?: number;
  capacityRate?: number;
  consistencyWindowMs?: number;
  authFailure?: boolean;
}

export interface ProviderOptions {
  /** Attempts per API call inside the adapter (SDK retries); 1 surfaces every fault. */
  maxAttempts?: number;
  notFoundGraceS?: number;
}

export interface Target {
  readonly name: 'sim' | 'aws' | 'azure';
  /** Faults this target can inject; the suite skips the others. */
  readonly supports: { auth: boolean };
  /** A fresh adapter, as a newly started process would build it. */
  provider(options?: ProviderOptions): Provider;
  setFaults(faults: Faults): void;
  /** Instances that exist and are not terminated, as the cloud sees them. */
  liveCount(): Promise<number>;
  /** A well-formed id of an instance that does not exist. */
  readonly unknownId: string;
  close(): Promise<void>;
}

export const CLUSTER = 'contract';

export async function simTarget(): Promise<Target> {
  const t: TestDatabase = await createTestDatabase('sim_contract', 20);
  const pool = `pool-${randomUUID().slice(0, 8)}`;
  let faults: Faults = {};
  return {
    name: 'sim',
    supports: { auth: false },
    provider: (options = {}) =>
      new SimProvider({
        cluster: CLUSTER,
        pool,
        db: t.db,
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
          },
        },
      }),
    setFaults: (f) => (faults = f),
    async liveCount() {
      const r = await t.db.execute(sql`
        SELECT count(*)::int AS n FROM sim_cloud.instances
        WHERE pool = ${pool} AND phase <> 'terminating' AND (dies_at IS NULL OR dies_at > now())`);
      return Number(r.rows[0]?.n);
    },
    unknownId: 'sim-0000000000000000',
    close: () => t.drop(),
  };
}

export async function awsTarget(): Promise<Target> {
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIDSANDFLEETTEST';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'not-a-secret';
  const emulator = new Ec2Emulator({ bootDelayMs: 30, stopDelayMs: 20, terminateDelayMs: 20, seed: 7 });
  const endpoint = await emulator.start();
  const pool = `pool-${randomUUID().slice(0, 8)}`;
  return {
    name: 'aws',
    supports: { auth: true },
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
    liveCount: () =>
      Promise.resolve(emulator.liveInstances().filter((i) => i.tags['sandfleet:pool'] === pool && i.state !== 'shutting-down').length),
    unknownId: 'i-0000000000000000',
    close: () => emulator.stop(),
  };
}
