// What the pool's row says drives the scheduler: the readiness probe (HTTP and TCP) gates
// `ready`, a boot timeout retires a machine that never answers, the runner named by the row runs
// the task, and cloud calls respect the rate limit of their provider account's bucket.
import http from 'node:http';
import net from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariants, getMachine, getPool, getTask, listMachines } from '../../src/machinery/index.js';
import { PoolSettingsError, readinessForPool, runnerForPool } from '../../src/scheduler/pool-settings.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { submit } from '../../src/scheduler/submission.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { testScheduler } from '../support/scheduler.js';
import { until } from '../support/until.js';

const t = useTestDatabase('pool_settings', 16, { queue: true });
const local = { bootDelayMs: 0, stopDelayMs: 5, terminateDelayMs: 5, address: '127.0.0.1' };
const count = async (query: ReturnType<typeof sql>) => Number((await t.db.execute(query)).rows[0]?.n);

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

describe('pool settings in the scheduler', () => {
  let scheduler: Scheduler;
  beforeAll(() => {
    // No runnerFor/readinessFor: the scheduler reads them from the pool rows, as in production.
    scheduler = testScheduler(t, { kind: 'postgres' }, { runnerFor: undefined, readinessFor: undefined, cloudRateLimits: { sim: { create: { perSecond: 4, burst: 2 } } } });
    scheduler.start();
  });
  afterAll(async () => {
    await scheduler?.close();
  });

  it('keeps a machine booting until its HTTP probe answers 2xx', async () => {
    const states: string[] = [];
    let machineId = '';
    const server = http.createServer((_req, res) => {
      void (async () => {
        states.push((await getMachine(t.db, machineId))?.state ?? 'gone');
        res.writeHead(states.length <= 3 ? 503 : 200).end();
      })();
    });
    const port = await listen(server);
    try {
      const pool = (await addPool(t.db, { maxSize: 1, settings: local, readiness: { probe: { kind: 'http', port, path: '/health' } } })).name;
      await scheduler.provision(pool, 1);
      machineId = (await listMachines(t.db, { pool }))[0]!.id;
      await until(async () => (await listMachines(t.db, { pool }))[0]?.state === 'ready');
      expect(states.slice(0, 4)).toEqual(['booting', 'booting', 'booting', 'booting']);
    } finally {
      server.close();
    }
  });

  it('readies a machine once its TCP probe port accepts', async () => {
    let accepted = 0;
    const server = net.createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    const port = await listen(server);
    try {
      const pool = (await addPool(t.db, { maxSize: 1, settings: local, readiness: { probe: { kind: 'tcp', port } } })).name;
      await scheduler.provision(pool, 1);
      await until(async () => (await listMachines(t.db, { pool }))[0]?.state === 'ready');
      expect(accepted).toBeGreaterThanOrEqual(1);
    } finally {
      server.close();
    }
  });

  it('retires a machine whose probe never answers within the boot timeout', async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const pool = (await addPool(t.db, { maxSize: 1, settings: local, readiness: { bootTimeoutS: 1, probe: { kind: 'tcp', port } } })).name;
    await scheduler.provision(pool, 1);
    const id = (await listMachines(t.db, { pool }))[0]!.id;
    await until(async () => (await listMachines(t.db, { pool })).length === 0);
    const path = (await t.db.execute(sql`SELECT to_state, reason FROM events WHERE entity_id = ${id} ORDER BY id`)).rows;
    expect(path.map((e) => e.to_state)).toEqual(['provisioning', 'booting', 'failed', 'deleting', 'deleted']);
    expect(String(path[2]?.reason)).toMatch(/boot timeout of 1s/);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('runs tasks with the command runner the pool names, given the machine address', async () => {
    const script = 'console.log("working"); console.log(JSON.stringify({ ip: process.env.SANDFLEET_MACHINE_IP, n: JSON.parse(process.env.SANDFLEET_TASK).payload.n }))';
    const pool = (await addPool(t.db, { maxSize: 2, settings: local, runner: { kind: 'command', command: process.execPath, args: ['-e', script] } })).name;
    const { task } = await submit(t.db, scheduler.deps.queues.runs, { pool, payload: { n: 7 } });
    await scheduler.provision(pool, 1);
    await until(async () => (await getTask(t.db, task.id))?.state === 'completed');
    expect((await getTask(t.db, task.id))?.result).toEqual({ ip: '127.0.0.1', n: 7 });
  });

  it('sends the creates of one provider account no faster than its rate limit (4/s, burst 2)', async () => {
    const pool = (await addPool(t.db, { maxSize: 8, settings: { ...local, bootDelayMs: 0 } })).name;
    const started = Date.now();
    // Eight reservations of one: eight launches, one create request each.
    for (let i = 0; i < 8; i++) expect(await scheduler.provision(pool, 1)).toBe(1);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} AND state = 'ready'`)) === 8);
    // Every create follows a token of the account's create bucket; the 8th exists no sooner than (8 - 2) / 4 s after the first.
    const lastBoot = await t.db.execute(sql`SELECT max(e.at) AS at FROM events e JOIN machines m ON m.id = e.entity_id WHERE m.pool = ${pool} AND e.to_state = 'booting'`);
    expect(new Date(String(lastBoot.rows[0]?.at)).getTime() - started).toBeGreaterThanOrEqual(1500 - 50);
    // Jobs that found the bucket empty were delayed, not failed.
    expect(await scheduler.deps.queues.machines.getFailed()).toEqual([]);
  });

  it('creates the machines of one reservation with one request', async () => {
    const pool = (await addPool(t.db, { maxSize: 8, settings: { ...local, bootDelayMs: 0 } })).name;
    expect(await scheduler.provision(pool, 8)).toBe(8);
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE pool = ${pool} AND state = 'ready'`)) === 8);
    // The sim names a launch's instances `<launch>:<index>`: eight instances, one launch.
    const launches = await t.db.execute(sql`
      SELECT count(*)::int AS instances, count(DISTINCT split_part(client_token, ':', 1))::int AS launches FROM sim_cloud.instances WHERE pool = ${pool}`);
    expect(launches.rows[0]).toEqual({ instances: 8, launches: 1 });
  });
});

describe('pool settings rows', () => {
  it('names the field that does not parse', async () => {
    const pool = await addPool(t.db, { runner: { kind: 'command', args: [] }, readiness: { probe: { kind: 'tcp', port: 70_000 } } });
    const row = (await getPool(t.db, pool.name))!;
    expect(() => runnerForPool(row)).toThrow(PoolSettingsError);
    expect(() => runnerForPool(row)).toThrow(/runner\.command/);
    expect(() => readinessForPool(row)).toThrow(/readiness\.probe\.port/);
  });

  it('defaults to the sim runner and a 600 s boot timeout without a probe', async () => {
    const row = (await getPool(t.db, (await addPool(t.db)).name))!;
    expect(runnerForPool(row).constructor.name).toBe('SimRunner');
    expect(readinessForPool(row)).toEqual({ bootTimeoutMs: 600_000, probe: undefined, probeTimeoutMs: 2000 });
  });
});
