// One fault per round, by scenario. Each `inject` breaks something and, where the fault lasts,
// heals it after a hold; it answers what it did, for the round's log line.
import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/index.js';
import type { ArmEmulator, ArmFaults, InjectedFault } from '../emulators/arm/server.js';
import type { Ec2Emulator } from '../emulators/ec2/server.js';
import type { DaemonProcess } from './daemons.js';
import type { PrivateRedis } from '../support/private-redis.js';
import type { PrivatePostgres } from './environment.js';
import type { FaultyProxy } from './proxy.js';

export type Backend = 'postgres' | 'redis';

export interface ChaosEnv {
  backend: Backend;
  pg: PrivatePostgres;
  redis: PrivateRedis;
  proxy: FaultyProxy;
  ec2: Ec2Emulator;
  arm: ArmEmulator;
  /** The resource group the scenario's Azure pools' scale sets live in (one per scenario run). */
  resourceGroup: string;
  /** The harness's own connection, straight to PostgreSQL (not through the proxy). */
  database: Database;
  daemons: DaemonProcess[];
}

export interface Scenario {
  name: string;
  daemons: number;
  cloud: 'sim' | 'aws' | 'azure';
  backends: Backend[];
  inject(env: ChaosEnv, random: () => number): Promise<string>;
}

const HOLD_MS = 3000;
const hold = (ms = HOLD_MS) => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
const BOTH: Backend[] = ['postgres', 'redis'];

async function killOne(env: ChaosEnv, random: () => number): Promise<string> {
  const index = Math.floor(random() * env.daemons.length);
  await env.daemons[index]!.respawn();
  return `SIGKILL daemon ${index + 1} of ${env.daemons.length}, restarted`;
}

async function setSimFaults(env: ChaosEnv, faults: Record<string, number>): Promise<void> {
  await env.database.db.execute(sql`UPDATE pools SET settings = settings || jsonb_build_object('faults', ${JSON.stringify({ seed: Date.now() % 100_000, ...faults })}::jsonb)`);
}

const SIM_FAULTS: [string, Record<string, number>][] = [
  ['throttling 40%', { throttleRate: 0.4 }],
  ['5xx 30%', { transientRate: 0.3 }],
  ['capacity errors 60%', { capacityRate: 0.6 }],
  ['eventual consistency 3 s', { consistencyWindowMs: 3000 }],
  ['instance death 40% within 3 s', { deathRate: 0.4, deathWithinS: 3 }],
];

const AWS_FAULTS: [string, (ec2: Ec2Emulator) => void][] = [
  ['throttling 40%', (ec2) => (ec2.faults = { throttleRate: 0.4 })],
  ['5xx 30% (half after acting)', (ec2) => (ec2.faults = { serverErrorRate: 0.3 })],
  ['capacity errors 60%', (ec2) => (ec2.faults = { capacityRate: 0.6 })],
  ['eventual consistency 3 s', (ec2) => (ec2.faults = { consistencyWindowMs: 3000 })],
];

/** Faults that hold for HOLD_MS, then are cleared. */
const AZURE_FAULTS: [string, ArmFaults][] = [
  ['throttling 40%', { throttleRate: 0.4 }],
  ['5xx 30% (half after acting)', { serverErrorRate: 0.3 }],
  ['long-running operations failing 50% (InternalExecutionError)', { operationFailureRate: 0.5 }],
  ['long-running operations hanging', { operationsHang: true }],
  ['capacity errors 60%', { capacityRate: 0.6 }],
];

/** One of the Azure faults: a held one, instance death, or a capacity change behind sandfleet's back. */
async function injectAzure(env: ChaosEnv, random: () => number): Promise<string> {
  const choice = Math.floor(random() * (AZURE_FAULTS.length + 2));
  if (choice === AZURE_FAULTS.length) return `ARM: VMs died: ${env.arm.killInstances(2).map(shortVm).join(', ') || 'none running'}`;
  if (choice === AZURE_FAULTS.length + 1) {
    const delta = random() < 0.5 ? -2 : 2;
    const changed = env.arm.changeCapacity(delta, env.resourceGroup);
    return changed ? `ARM: capacity of ${changed.scaleSet} set ${changed.from} → ${changed.to} behind sandfleet's back` : 'ARM: no scale set to resize yet';
  }
  const [what, faults] = AZURE_FAULTS[choice]!;
  const before = { ...env.arm.injected };
  env.arm.faults = faults;
  await hold();
  env.arm.faults = {};
  // What struck, so a clean round is known to have met its fault.
  const struck = Object.entries(env.arm.injected).flatMap(([kind, n]) => (n > before[kind as InjectedFault] ? [`${kind} ${n - before[kind as InjectedFault]}`] : []));
  return `ARM: ${what} for 3 s (${struck.join(', ') || 'nothing struck'})`;
}

/** A VM's resource id as scale set/instance, for the round's log line. */
const shortVm = (id: string) => id.replace(/^.*\/virtualMachineScaleSets\//, '').replace('/virtualMachines/', '/');

export const SCENARIOS: Scenario[] = [
  { name: 'kill', daemons: 1, cloud: 'sim', backends: BOTH, inject: killOne },
  { name: 'kill-one-of-three', daemons: 3, cloud: 'sim', backends: BOTH, inject: killOne },
  {
    name: 'pg-restart',
    daemons: 2,
    cloud: 'sim',
    backends: BOTH,
    inject: (env) => {
      env.pg.restart();
      return Promise.resolve('PostgreSQL restarted (fast)');
    },
  },
  {
    name: 'pg-terminate',
    daemons: 2,
    cloud: 'sim',
    backends: BOTH,
    inject: async (env) => {
      const result = await env.database.db.execute(
        sql`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'sandfleet-daemon%'`,
      );
      return `pg_terminate_backend on ${Number(result.rows[0]?.n ?? 0)} daemon connections`;
    },
  },
  {
    name: 'network',
    daemons: 2,
    cloud: 'sim',
    backends: BOTH,
    inject: async (env, random) => {
      const fault = pick(['delay', 'partition', 'reset'] as const, random);
      if (fault === 'reset') return `reset ${env.proxy.resetAll()} connections`;
      env.proxy.mode = fault === 'delay' ? { kind: 'delay', ms: 300 } : { kind: 'partition' };
      await hold();
      env.proxy.mode = { kind: 'pass' };
      return fault === 'delay' ? 'database latency +300 ms for 3 s' : 'database partitioned for 3 s';
    },
  },
  {
    name: 'redis-flush',
    daemons: 2,
    cloud: 'sim',
    backends: ['redis'],
    inject: async (env) => {
      await env.redis.flushAll();
      return 'Redis FLUSHALL';
    },
  },
  {
    name: 'redis-restart',
    daemons: 2,
    cloud: 'sim',
    backends: ['redis'],
    inject: async (env) => {
      await env.redis.restart();
      return 'Redis killed and restarted empty';
    },
  },
  {
    name: 'cloud-sim',
    daemons: 2,
    cloud: 'sim',
    backends: BOTH,
    inject: async (env, random) => {
      const [what, faults] = pick(SIM_FAULTS, random);
      await setSimFaults(env, faults);
      await hold();
      await setSimFaults(env, {});
      return `sim cloud: ${what} for 3 s`;
    },
  },
  {
    name: 'cloud-aws',
    daemons: 2,
    cloud: 'aws',
    backends: BOTH,
    inject: async (env, random) => {
      if (random() < 0.2) return `EC2: instances died: ${env.ec2.killInstances(2).join(', ') || 'none live'}`;
      const [what, apply] = pick(AWS_FAULTS, random);
      apply(env.ec2);
      await hold();
      env.ec2.faults = {};
      return `EC2: ${what} for 3 s`;
    },
  },
  { name: 'cloud-azure', daemons: 2, cloud: 'azure', backends: BOTH, inject: injectAzure },
];
