// `npm run chaos -- [--rounds N] [--scenario name,...] [--backend postgres|redis|both]`
// Real daemon processes against a PostgreSQL, Redis and EC2 emulator of the harness's own, one
// fault per round, the invariant checker after every round and a leak check at the end.
// Prints: scenario, backend, rounds, tasks, violations, lost, stuck, leaked; exit 1 unless all 0.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropDatabase, openDatabase, type PoolRow } from '../../src/db/index.js';
import { checkSystem } from '../../src/scheduler/check.js';
import { ProviderRegistry } from '../../src/scheduler/providers.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { table } from '../../src/cli/output.js';
import { prng } from '../support/actors.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';
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
  options: { rounds: { type: 'string', default: '3' }, scenario: { type: 'string', default: 'all' }, backend: { type: 'string', default: 'both' }, seed: { type: 'string', default: '1' } },
});
const rounds = Number(values.rounds);
const backends: Backend[] = values.backend === 'both' ? ['postgres', 'redis'] : [values.backend as Backend];
const chosen = values.scenario === 'all' ? SCENARIOS : SCENARIOS.filter((s) => values.scenario.split(',').includes(s.name));
if (!Number.isInteger(rounds) || rounds < 1 || chosen.length === 0 || backends.some((b) => b !== 'postgres' && b !== 'redis')) {
  console.error(`usage: npm run chaos -- [--rounds N] [--scenario ${SCENARIOS.map((s) => s.name).join(',')}|all] [--backend postgres|redis|both]`);
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
console.log(`PostgreSQL :${pg.port} (daemons via proxy :${proxyPort}), Redis :${redis.port}, EC2 emulator ${ec2Endpoint}`);
const rows: Row[] = [];
try {
  for (const backend of backends) {
    for (const scenario of chosen.filter((s) => s.backends.includes(backend))) rows.push(await runScenario(scenario, backend));
  }
} finally {
  await proxy.close();
  await ec2.stop();
  await redis.stop();
  pg.stop();
}
console.log(`\n${table(rows as unknown as Record<string, unknown>[], ['scenario', 'backend', 'rounds', 'tasks', 'violations', 'lost', 'stuck', 'leaked'])}`);
const clean = rows.every((r) => r.violations + r.lost + r.stuck + r.leaked === 0);
console.log(clean ? '\nchaos: clean' : '\nchaos: FAILED (see the rounds above)');
process.exit(clean ? 0 : 1);

function pools(scenario: Scenario): PoolSpec[] {
  const sim = { bootDelayMs: 300, stopDelayMs: 100, terminateDelayMs: 100, terminatedVisibleS: 5, notFoundGraceS: 5 };
  const aws = { region: 'us-east-1', endpoint: ec2Endpoint, imageId: 'ami-0abc', instanceType: 't3.micro', subnetIds: ['subnet-0aaa', 'subnet-0bbb'], notFoundGraceS: 5, maxAttempts: 2 };
  return scenario.cloud === 'aws'
    ? [{ name: 'ec2-once', provider: 'aws', settings: aws, max_uses: 1, recycle: 'delete' }, { name: 'ec2-reused', provider: 'aws', settings: aws, max_uses: 5, recycle: 'delete' }]
    : [{ name: 'sim-once', provider: 'sim', settings: sim, max_uses: 1, recycle: 'delete' }, { name: 'sim-reimage', provider: 'sim', settings: sim, max_uses: 5, recycle: 'reimage' }];
}

async function runScenario(scenario: Scenario, backend: Backend): Promise<Row> {
  const name = `chaos_${scenario.name.replaceAll('-', '_')}_${backend}_${Date.now().toString(36)}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-chaos-'));
  const config = path.join(dir, 'sandfleet.yaml');
  const specs = pools(scenario);
  writeConfig(config, { backend, pools: specs });
  // Daemons reach PostgreSQL through the proxy; the harness goes straight to it.
  const env = { DATABASE_URL: pg.url(name, proxyPort), REDIS_URL: redis.url };
  console.log(`\n== ${scenario.name} on ${backend}: ${scenario.daemons} daemon(s), ${rounds} round(s)`);
  const daemons: DaemonProcess[] = [];
  for (let i = 0; i < scenario.daemons; i++) daemons.push(await DaemonProcess.start(config, env));
  const database = openDatabase({ url: pg.url(name), max: 4, applicationName: 'sandfleet-chaos' });
  const registry = new ProviderRegistry({ db: database.db, cluster: 'chaos' });
  const providerFor = (pool: PoolRow) => registry.for(pool);
  const chaos: ChaosEnv = { backend, pg, redis, proxy, ec2, database, daemons };
  const row: Row = { scenario: scenario.name, backend, rounds: 0, tasks: 0, violations: 0, lost: 0, stuck: 0, leaked: 0 };
  const seen = new Set<string>();
  try {
    const token = (await createToken(database.db, 'chaos', 'submitter')).token;
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
      console.log(`round ${round}/${rounds} (${secs}s): ${result.fault}; ${result.accepted} accepted, ${result.lost.length} lost, ${result.stuck.length} stuck, ${fresh.length} violations${result.unanswered ? `, ${result.unanswered} unanswered` : ''}`);
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
    row.leaked = leaks.length + final.unchecked.length;
    row.violations += others.length;
    for (const v of [...leaks, ...others]) console.log(`  final ${v.invariant}: ${v.detail}`);
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
