// `npm run chaos -- [--rounds N] [--scenario name,...] [--backend postgres|redis|both] [--seed N]`
// Real daemon processes against a PostgreSQL, Redis, EC2 and ARM emulator of the harness's own, one
// fault per round, the invariant checker after every round and a leak check at the end.
// Prints: scenario, backend, rounds, tasks, violations, lost, stuck, leaked; exit 1 unless all 0.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropDatabase, openDatabase, type PoolRow } from '../../src/db/index.js';
import { checkSystem } from '../../src/scheduler/check.js';
import { ProviderRegistry } from '../../src/scheduler/providers.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { table } from '../../src/cli/output.js';
import { prng } from '../support/actors.js';
import type { TokenCredential } from '@azure/core-auth';
import { Ec2Emulator } from '../emulators/ec2/server.js';
import { makeTestCertificate } from '../emulators/arm/certificate.js';
import { ArmEmulator } from '../emulators/arm/server.js';
import { azureLeaks } from './cloud-leaks.js';
import { failedMachines } from './failures.js';
import { DaemonProcess, TIMING, writeConfig, type PoolSpec } from './daemons.js';
import { PrivatePostgres } from './environment.js';
import { PrivateRedis } from '../support/private-redis.js';
import { FaultyProxy } from './proxy.js';
import { runRound } from './round.js';
import { SCENARIOS, type Backend, type ChaosEnv, type Scenario } from './scenarios.js';

interface Row {
  scenario: string;
  backend: Backend;
  rounds: number;
  tasks: number;
  violations: number;
  lost: number;
  stuck: number;
  leaked: number;
}

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, scenario: { type: 'string', default: 'all' }, backend: { type: 'string', default: 'both' }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', default: false } },
});
const rounds = Number(values.rounds);
const backends: Backend[] = values.backend === 'both' ? ['postgres', 'redis'] : [values.backend as Backend];
const chosen = values.scenario === 'all' ? SCENARIOS : SCENARIOS.filter((s) => values.scenario.split(',').includes(s.name));
const usage = `usage: npm run chaos -- [--rounds N] [--scenario ${SCENARIOS.map((s) => s.name).join(',')}|all] [--backend postgres|redis|both] [--seed N]`;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!Number.isInteger(rounds) || rounds < 1 || chosen.length === 0 || backends.some((b) => b !== 'postgres' && b !== 'redis') || !Number.isFinite(Number(values.seed))) {
  console.error(usage);
  process.exit(2);
}

// The aws adapter takes the default credential chain; the emulator accepts any key.
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'chaos', AWS_SECRET_ACCESS_KEY: 'chaos-secret', AWS_REGION: 'us-east-1' });
const random = prng(Number(values.seed));
const pg = await PrivatePostgres.start();
const redis = await PrivateRedis.start();
const proxy = new FaultyProxy({ host: '127.0.0.1', port: pg.port });
const proxyPort = await proxy.start();
// Unmetered: the scenarios inject their own throttling (cloud-aws).
const ec2 = new Ec2Emulator({ bootDelayMs: 300, stopDelayMs: 100, terminateDelayMs: 200, terminatedVisibleMs: 5000, budget: 'unlimited' });
const ec2Endpoint = await ec2.start();
// Seeded from the run's seed, so its picks (which VMs die, which scale set is resized) replay.
const certificate = makeTestCertificate();
const arm = new ArmEmulator({ certificate, operationMs: 200, bootDelayMs: 300, budget: 'unlimited', seed: Number(values.seed) });
const armEndpoint = await arm.start();
const armCa = path.join(mkdtempSync(path.join(os.tmpdir(), 'sandfleet-chaos-arm-')), 'ca.pem');
writeFileSync(armCa, certificate.cert);
// Daemons reach ARM as on Azure: DefaultAzureCredential (App Service's managed identity, served
// by the emulator) and Node's TLS trust, with the emulator's certificate added to it.
const ARM_DAEMON_ENV = { NODE_EXTRA_CA_CERTS: armCa, IDENTITY_ENDPOINT: arm.identityEndpoint, IDENTITY_HEADER: arm.identitySecret, AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential' };
// The harness's own adapters (the checker's listings) take a token and the certificate directly.
const armCredential: TokenCredential = { getToken: () => Promise.resolve({ token: 'chaos-harness', expiresOnTimestamp: Date.now() + 3_600_000 }) };
const AZURE_SUBSCRIPTION = '00000000-0000-4000-8000-0000000c4a05';
console.log(`PostgreSQL :${pg.port} (daemons via proxy :${proxyPort}), Redis :${redis.port}, EC2 emulator ${ec2Endpoint}, ARM emulator ${armEndpoint}`);
const rows: Row[] = [];
try {
  for (const backend of backends) {
    for (const scenario of chosen.filter((s) => s.backends.includes(backend))) rows.push(await runScenario(scenario, backend));
  }
} finally {
  await proxy.close();
  await ec2.stop();
  await arm.stop();
  await redis.stop();
  pg.stop();
}
console.log(`\n${table(rows as unknown as Record<string, unknown>[], ['scenario', 'backend', 'rounds', 'tasks', 'violations', 'lost', 'stuck', 'leaked'])}`);
const clean = rows.every((r) => r.violations + r.lost + r.stuck + r.leaked === 0);
console.log(clean ? '\nchaos: clean' : '\nchaos: FAILED (see the rounds above)');
process.exit(clean ? 0 : 1);

function pools(scenario: Scenario, resourceGroup: string): PoolSpec[] {
  const sim = { bootDelayMs: 300, stopDelayMs: 100, terminateDelayMs: 100, terminatedVisibleS: 5, notFoundGraceS: 5 };
  const aws = { region: 'us-east-1', endpoint: ec2Endpoint, imageId: 'ami-0abc', instanceType: 't3.micro', subnetIds: ['subnet-0aaa', 'subnet-0bbb'], notFoundGraceS: 5, maxAttempts: 2 };
  switch (scenario.cloud) {
    case 'aws':
      return [{ name: 'ec2-once', provider: 'aws', settings: aws, max_uses: 1, recycle: 'delete' }, { name: 'ec2-reused', provider: 'aws', settings: aws, max_uses: 5, recycle: 'delete' }];
    case 'azure':
      // Spot pools, so a VM that dies is evicted and deleted (a regular VM would be service-healed in place, which no sim runner notices).
      return [
        { name: 'vmss-once', provider: 'azure', settings: azureSettings(resourceGroup), max_uses: 1, recycle: 'delete' },
        { name: 'vmss-reimage', provider: 'azure', settings: azureSettings(resourceGroup), max_uses: 5, recycle: 'reimage' },
      ];
    default:
      return [{ name: 'sim-once', provider: 'sim', settings: sim, max_uses: 1, recycle: 'delete' }, { name: 'sim-reimage', provider: 'sim', settings: sim, max_uses: 5, recycle: 'reimage' }];
  }
}

/**
 * An Azure pool on the ARM emulator, in a resource group of its own per scenario run (so one
 * run's scale sets never meet the next's). Operations give up after 2 s, within the 3 s a hang
 * holds, so a hanging operation is timed out and retried while the fault lasts.
 */
function azureSettings(resourceGroup: string): Record<string, unknown> {
  const sub = `/subscriptions/${AZURE_SUBSCRIPTION}`;
  return {
    subscriptionId: AZURE_SUBSCRIPTION,
    resourceGroup,
    location: 'westeurope',
    vmSize: 'Standard_D2s_v5',
    image: { galleryImageVersionId: `${sub}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/sandboxes/images/analysis/versions/1.0.0` },
    subnetId: `${sub}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`,
    sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE chaos',
    spot: { maxPrice: -1 },
    endpoint: armEndpoint,
    pollIntervalMs: 100,
    operationTimeoutS: 2,
    readTimeoutS: 5,
    maxRetries: 1,
    notFoundGraceS: 5,
  };
}

async function runScenario(scenario: Scenario, backend: Backend): Promise<Row> {
  const name = `chaos_${scenario.name.replaceAll('-', '_')}_${backend}_${Date.now().toString(36)}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-chaos-'));
  const config = path.join(dir, 'sandfleet.yaml');
  const resourceGroup = `rg-${name.replaceAll('_', '-')}`;
  const specs = pools(scenario, resourceGroup);
  writeConfig(config, { backend, pools: specs });
  // Daemons reach PostgreSQL through the proxy; the harness goes straight to it.
  const env = { DATABASE_URL: pg.url(name, proxyPort), REDIS_URL: redis.url, ...(scenario.cloud === 'azure' ? ARM_DAEMON_ENV : {}) };
  console.log(`\n== ${scenario.name} on ${backend}: ${scenario.daemons} daemon(s), ${rounds} round(s)`);
  const daemons: DaemonProcess[] = [];
  for (let i = 0; i < scenario.daemons; i++) daemons.push(await DaemonProcess.start(config, env));
  const database = openDatabase({ url: pg.url(name), max: 4, applicationName: 'sandfleet-chaos' });
  const registry = new ProviderRegistry({ db: database.db, cluster: 'chaos', azure: { credential: armCredential, tlsOptions: { ca: certificate.cert } } });
  const providerFor = (pool: PoolRow) => registry.for(pool);
  const chaos: ChaosEnv = { backend, pg, redis, proxy, ec2, arm, resourceGroup, database, daemons };
  const row: Row = { scenario: scenario.name, backend, rounds: 0, tasks: 0, violations: 0, lost: 0, stuck: 0, leaked: 0 };
  const seen = new Set<string>();
  try {
    const token = (await createToken(database.db, { name: 'chaos', role: 'submitter' })).token;
    for (let round = 1; round <= rounds; round++) {
      const started = Date.now();
      const result = await runRound(chaos, scenario, { token, pools: specs.map((p) => p.name), providerFor, random });
      const fresh = result.violations.filter((v) => !seen.has(`${v.invariant}:${v.ids.join(',')}`));
      for (const v of fresh) seen.add(`${v.invariant}:${v.ids.join(',')}`);
      Object.assign(row, { rounds: round, tasks: row.tasks + result.accepted, violations: row.violations + fresh.length, lost: row.lost + result.lost.length, stuck: row.stuck + result.stuck.length });
      // A daemon that died of the fault is itself a failure (a supervisor would restart it).
      for (const [i, d] of daemons.entries()) {
        if (d.alive) continue;
        console.log(`  daemon ${i + 1} exited unexpectedly; last output:\n${d.tail().slice(-1500)}`);
        row.violations++;
        await d.respawn();
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const failed = await failedMachines(database, new Date(started));
      console.log(`round ${round}/${rounds} (${secs}s): ${result.fault}; ${result.accepted} accepted, ${result.lost.length} lost, ${result.stuck.length} stuck, ${fresh.length} violations${result.unanswered ? `, ${result.unanswered} unanswered` : ''}${failed ? `; machines failed: ${failed}` : ''}`);
      for (const v of fresh) console.log(`  ${v.invariant}: ${v.detail}`);
      if (result.stuck.length) {
        console.log(`  stuck: ${result.stuck.slice(0, 5).join(', ')}`);
        for (const [i, d] of daemons.entries()) console.log(`  daemon ${i + 1} (${d.alive ? 'alive' : 'exited'}), last output:\n${d.tail().slice(-1500)}`);
      }
    }
    // Leaks: after a quiet spell longer than the orphan grace plus a few reconciles.
    const graceS = TIMING.orphan_grace_s + 3 * TIMING.reconcile_every_s + 2;
    await new Promise((r) => setTimeout(r, (graceS + 2) * 1000));
    const final = await checkSystem({ db: database.db, providerFor, deadlineGraceS: TIMING.deadline_grace_s, orphanGraceS: graceS });
    const leaks = final.violations.filter((v) => v.invariant === 'I5');
    const others = final.violations.filter((v) => v.invariant !== 'I5' && !seen.has(`${v.invariant}:${v.ids.join(',')}`));
    // VMs the emulator holds that no row does and I5 (through the adapter) did not already name.
    const named = new Set(leaks.flatMap((v) => v.ids.map((id) => id.toLowerCase())));
    const unseen = scenario.cloud === 'azure' ? (await azureLeaks(arm, database, resourceGroup, graceS * 1000)).filter((vm) => !named.has(vm.split(' ')[0]!.toLowerCase())) : [];
    row.leaked = leaks.length + unseen.length + final.unchecked.length;
    row.violations += others.length;
    for (const v of [...leaks, ...others]) console.log(`  final ${v.invariant}: ${v.detail}`);
    for (const vm of unseen) console.log(`  final: VM ${vm} is held by no machine row (seen by the ARM emulator, not listed by the adapter)`);
    for (const u of final.unchecked) console.log(`  final: could not list ${u.pool}: ${u.reason}`);
  } catch (error) {
    console.log(`scenario failed: ${error instanceof Error ? error.message : String(error)}`);
    for (const d of daemons) console.log(d.tail());
    row.violations++;
  } finally {
    row.violations += await hungAtSigterm(daemons);
    await Promise.all(daemons.map((d) => d.kill('SIGKILL')));
    await database.close();
    await dropDatabase(pg.url(name), name).catch(() => {});
  }
  return row;
}

/** SIGTERM must end every daemon within its shutdown grace plus the bounded closing steps; answers how many did not. */
async function hungAtSigterm(daemons: DaemonProcess[]): Promise<number> {
  const stopped = await Promise.all(daemons.map((d) => d.kill('SIGTERM', 30_000)));
  let hung = 0;
  for (const [i, ok] of stopped.entries()) {
    for (const line of daemons[i]!.tail().split('\n').filter((l) => l.includes('gave up waiting'))) console.log(`  daemon ${i + 1} at SIGTERM: ${line}`);
    if (ok) continue;
    console.log(`  daemon ${i + 1} did not exit within 30 s of SIGTERM; last output:\n${daemons[i]!.tail().slice(-1500)}`);
    hung++;
  }
  return hung;
}
