// The system invariant checker and `sandfleet check`: a consistent system reports nothing; each
// planted fault (an overdue task, an instance without a row, a row without its instance, a
// broken lease) is reported under its invariant with the offending ids, and the CLI exits 1.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { databaseUrlFromEnv } from '../../src/db/index.js';
import {
  allocate,
  finishTask,
  getMachine,
  getPool,
  markBooting,
  markReady,
  markStopped,
  releaseMachine,
  requestRetireAfterTask,
  reserveMachines,
  startTask,
  submitTask,
} from '../../src/machinery/index.js';
import { checkSystem, type CheckReport } from '../../src/scheduler/check.js';
import { ProviderRegistry } from '../../src/scheduler/providers.js';
import type { MachineRow, PoolRow } from '../../src/db/index.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { runCli } from '../surfaces/process.js';

const t = useTestDatabase('check', 8);
// The CLI without a config file checks cluster "sandfleet"; the sim cloud lives in this database.
const CLUSTER = 'sandfleet';
const SIM = { bootDelayMs: 0, stopDelayMs: 0, terminateDelayMs: 0, terminatedVisibleS: 0, notFoundGraceS: 0 };
let providers: ProviderRegistry;
const url = () => {
  const u = new URL(databaseUrlFromEnv());
  u.pathname = `/${t.name}`;
  return u.toString();
};

async function poolRow(name: string): Promise<PoolRow> {
  const row = await getPool(t.db, name);
  if (!row) throw new Error(`no pool ${name}`);
  return row;
}

/** Ready machines backed by real sim instances. */
async function readyWithInstances(pool: string, count: number): Promise<MachineRow[]> {
  const provider = providers.for(await poolRow(pool));
  const { machines } = await reserveMachines(t.db, pool, count, 'test');
  const out: MachineRow[] = [];
  for (const m of machines) {
    const instance = await provider.create({ machineId: m.id, name: m.name });
    await markBooting(t.db, m.id, { providerId: instance.providerId, ip: instance.ip }, { actor: 'test' });
    const ready = await markReady(t.db, m.id, { actor: 'test' });
    if (!ready.ok) throw new Error('ready lost');
    out.push(ready.row);
  }
  return out;
}

function check(options: { pool?: string; inSeconds?: number; orphanGraceS?: number } = {}): Promise<CheckReport> {
  return checkSystem({
    db: t.db,
    providerFor: (pool) => providers.for(pool),
    deadlineGraceS: 30,
    orphanGraceS: options.orphanGraceS ?? 0,
    pool: options.pool,
    now: new Date(Date.now() + (options.inSeconds ?? 1) * 1000),
  });
}

beforeAll(() => {
  providers = new ProviderRegistry({ db: t.db, cluster: CLUSTER });
});

describe('checkSystem', () => {
  it('reports nothing for a consistent pool, and an overdue task under I4 once past deadline + grace', async () => {
    const pool = (await addPool(t.db, { settings: SIM })).name;
    await readyWithInstances(pool, 2);
    const { task } = await submitTask(t.db, { pool, payload: {}, timeoutS: 60 }, { actor: 'test' });
    const lease = await allocate(t.db, { taskId: task.id });
    expect(lease).not.toBeNull();
    await startTask(t.db, task.id, lease!.machine.id, { actor: 'test' });

    const clean = await check({ pool });
    expect(clean.violations).toEqual([]);
    expect(clean.unchecked).toEqual([]);
    expect(clean.checked).toMatchObject({ pools: 1, machines: 2, tasks: 1, instances: 2 });
    // 60 s timeout + 30 s grace: at 80 s it is fine, at 100 s it is overdue.
    expect((await check({ pool, inSeconds: 80 })).violations).toEqual([]);
    const late = await check({ pool, inSeconds: 100 });
    expect(late.violations).toEqual([expect.objectContaining({ invariant: 'I4', ids: [task.id, lease!.machine.id] })]);
  });

  it('reports an instance no row holds, and a ready row whose instance is gone, under I5', async () => {
    const pool = (await addPool(t.db, { settings: SIM })).name;
    const [kept, lost] = await readyWithInstances(pool, 2);
    const provider = providers.for(await poolRow(pool));
    const stray = await provider.create({ machineId: randomUUID(), name: 'stray' });
    await provider.delete(lost!.providerId!);

    // Within the orphan grace, both are tolerated.
    expect((await check({ pool, orphanGraceS: 3600 })).violations).toEqual([]);
    const report = await check({ pool });
    const found = report.violations.map((v) => ({ invariant: v.invariant, ids: v.ids }));
    expect(found).toHaveLength(2);
    expect(found).toContainEqual({ invariant: 'I5', ids: [stray.providerId] });
    expect(found).toContainEqual({ invariant: 'I5', ids: [lost!.id] });
    expect(report.violations.some((v) => v.ids.includes(kept!.id))).toBe(false);
  });

  it('reports nothing for a machine asked to retire after its task, through release', async () => {
    const pool = (await addPool(t.db, { settings: SIM })).name;
    await readyWithInstances(pool, 1);
    const { task } = await submitTask(t.db, { pool, payload: {} }, { actor: 'test' });
    const lease = await allocate(t.db, { taskId: task.id });
    const id = lease!.machine.id;
    await startTask(t.db, task.id, id, { actor: 'test' });

    // The operator's drain-after-task: the row changes (a copy read before it is stale) and the
    // change is logged, so its version still counts its events (I8).
    const before = (await getMachine(t.db, id))!;
    const marked = await requestRetireAfterTask(t.db, id, { actor: 'operator' });
    expect(marked.ok && marked.row).toMatchObject({ state: 'leased', retireRequested: true, version: before.version + 1 });
    expect((await check({ pool })).violations).toEqual([]);
    // Asking again changes nothing.
    const again = await requestRetireAfterTask(t.db, id, { actor: 'operator' });
    expect(again.ok && again.row.version).toBe(before.version + 1);

    // Through the finishing order, still asked for in stopping, to release.
    expect((await finishTask(t.db, { machineId: id, taskId: task.id }, { outcome: 'completed' }, { actor: 'test' })).machine.ok).toBe(true);
    expect((await check({ pool })).violations).toEqual([]);
    expect((await markStopped(t.db, id, { actor: 'test' })).ok).toBe(true);
    expect((await releaseMachine(t.db, { machineId: id, taskId: task.id }, { actor: 'test' })).machine.ok).toBe(true);
    expect((await check({ pool })).violations).toEqual([]);
    const path = await t.db.execute(sql`SELECT from_state, to_state, actor FROM events WHERE entity_id = ${id} ORDER BY id`);
    expect(path.rows.slice(-5)).toEqual([
      { from_state: 'ready', to_state: 'leased', actor: expect.any(String) },
      { from_state: 'leased', to_state: 'leased', actor: 'operator' },
      { from_state: 'leased', to_state: 'stopping', actor: 'test' },
      { from_state: 'stopping', to_state: 'stopped', actor: 'test' },
      { from_state: 'stopped', to_state: 'released', actor: 'test' },
    ]);
  });

  it('lists at most `limit` violations of an invariant and counts the rest', async () => {
    const pool = (await addPool(t.db, { settings: SIM })).name;
    const provider = providers.for(await poolRow(pool));
    const strays = await Promise.all([1, 2, 3].map((i) => provider.create({ machineId: randomUUID(), name: `stray-${i}` })));
    const report = await checkSystem({ db: t.db, providerFor: async (p) => Promise.resolve(providers.for(p)), deadlineGraceS: 30, orphanGraceS: 0, pool, now: new Date(Date.now() + 1000), limit: 1 });
    expect(report.violations).toEqual([expect.objectContaining({ invariant: 'I5', ids: [expect.toBeOneOf(strays.map((s) => s.providerId))] })]);
    expect(report.omitted).toEqual({ I5: 2 });
  });

  it('reports a lease broken behind the machinery under I1 with both ids', async () => {
    const pool = (await addPool(t.db, { settings: SIM })).name;
    await readyWithInstances(pool, 1);
    const { task } = await submitTask(t.db, { pool, payload: {} }, { actor: 'test' });
    const lease = await allocate(t.db, { taskId: task.id });
    await t.db.execute(sql`UPDATE tasks SET state = 'queued', machine_id = NULL WHERE id = ${task.id}`);
    const report = await check({ pool });
    expect(report.violations.filter((v) => v.invariant === 'I1').map((v) => v.ids)).toContainEqual([lease!.machine.id, task.id]);
  });
});

describe('sandfleet check', () => {
  it('exits 0 on a clean pool and 1 with the violations as JSON on a faulty one', async () => {
    const clean = (await addPool(t.db, { settings: SIM })).name;
    await readyWithInstances(clean, 1);
    const env = { DATABASE_URL: url() };
    const ok = await runCli(['check', '--pool', clean, '--orphan-grace-s', '0'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/checked cluster sandfleet: 1 pools, 1 machines, 0 tasks, 1 instances\nno violations/);

    const faulty = (await addPool(t.db, { settings: SIM })).name;
    const stray = await providers.for(await poolRow(faulty)).create({ machineId: randomUUID(), name: 'stray' });
    // The instance must be older than the (zero) orphan grace by the database's clock.
    await new Promise((r) => setTimeout(r, 20));
    const bad = await runCli(['check', '--pool', faulty, '--orphan-grace-s', '0', '--json'], env);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as CheckReport & { ok: boolean };
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([expect.objectContaining({ invariant: 'I5', ids: [stray.providerId] })]);
    expect(bad.stderr).toMatch(/1 invariant violation\(s\) found/);
  }, 60_000);
});
