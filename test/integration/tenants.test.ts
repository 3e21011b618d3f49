// Tenants in the machinery: leases shared by weighted round robin between tenants with queued
// work, max_running held over every pool under concurrent claims, max_queued admitted under a
// lock (nothing written past it), idempotency keys per tenant, and the sync from the config.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/index.js';
import { DEFAULT_TENANT } from '../../src/db/states.js';
import { withTransaction } from '../../src/db/transaction.js';
import {
  becomeReady,
  cancelTask,
  checkInvariants,
  claimLeases,
  listTenants,
  markBooting,
  poolLoad,
  reserveMachines,
  submitTask,
  syncTenants,
  upsertTenant,
  type Lease,
} from '../../src/machinery/index.js';
import { submit, TenantLimit } from '../../src/scheduler/submission.js';
import { useTestDatabase } from '../support/database.js';
import { addPool } from '../support/fixtures.js';
import { until } from '../support/until.js';

const t = useTestDatabase('tenants', 24);
const noRuns = { add: () => Promise.resolve(), addBulk: () => Promise.resolve() };

async function tenant(name: string, settings: { weight?: number; maxQueued?: number; maxRunning?: number } = {}): Promise<string> {
  await upsertTenant(t.db, { name, weight: settings.weight ?? 1, maxQueued: settings.maxQueued ?? null, maxRunning: settings.maxRunning ?? null });
  return name;
}

/** `count` tasks of one tenant, queued in one statement (a burst needs no thousand round trips). */
async function burst(db: Db, pool: string, tenantName: string, count: number): Promise<void> {
  await db.execute(sql`
    WITH created AS (
      INSERT INTO tasks (id, tenant, pool, payload, state, created_at)
      SELECT gen_random_uuid(), ${tenantName}, ${pool}, jsonb_build_object('i', g), 'queued', clock_timestamp() FROM generate_series(1, ${count}) g
      RETURNING id, pool, state)
    INSERT INTO events (entity, entity_id, pool, from_state, to_state, actor) SELECT 'task', id, pool, NULL, state, 'test' FROM created`);
}

/** A machine comes up the way a provisioner brings it, and claims in the same transaction. */
async function comesUp(pool: string, claimLimit = 1): Promise<Lease[]> {
  const { machines } = await reserveMachines(t.db, pool, 1, 'test');
  const machine = machines[0]!;
  const booted = await markBooting(t.db, machine.id, { providerId: `sim-${machine.id}`, ip: '10.0.0.1' }, { actor: 'test' });
  if (!booted.ok) throw new Error('boot lost');
  return (await becomeReady(t.db, machine.id, '10.0.0.1', claimLimit, { actor: 'test' })).leases;
}

const tenantOf = async (taskId: string) => String((await t.db.execute(sql`SELECT tenant FROM tasks WHERE id = ${taskId}`)).rows[0]?.tenant);

describe('fair shares between tenants', () => {
  it('a burst of 1,000 tasks delays another tenant\'s single task by at most one lease', async () => {
    const pool = (await addPool(t.db, { maxSize: 100 })).name;
    const [big, small] = [await tenant('burst-a'), await tenant('single-b')];
    await burst(t.db, pool, big, 1000);
    // The burst has been served for a while when the other tenant's task arrives.
    for (let i = 0; i < 5; i++) expect((await comesUp(pool)).map((l) => l.task.tenant)).toEqual([big]);
    const { task: single } = await submitTask(t.db, { pool, tenant: small, payload: { single: true } }, { actor: 'test' });
    const next = await comesUp(pool);
    expect(next.map((l) => l.task.id)).toEqual([single.id]);

    // Both arrive together: the older burst's first task, then the single one.
    const pool2 = (await addPool(t.db, { maxSize: 100 })).name;
    await burst(t.db, pool2, big, 1000);
    const { task: late } = await submitTask(t.db, { pool: pool2, tenant: small, payload: {} }, { actor: 'test' });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push(...(await comesUp(pool2)).map((l) => l.task.id));
    expect(order.indexOf(late.id)).toBeLessThanOrEqual(1);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('shares a busy pool in proportion to weight, by priority within a tenant, one machine or a batch at a time', async () => {
    const pool = (await addPool(t.db, { maxSize: 200 })).name;
    const [heavy, light] = [await tenant('heavy', { weight: 3 }), await tenant('light', { weight: 1 })];
    await burst(t.db, pool, heavy, 100);
    await burst(t.db, pool, light, 100);
    const { task: urgent } = await submitTask(t.db, { pool, tenant: light, payload: {}, priority: 90 }, { actor: 'test' });
    const leased: Lease[] = [];
    for (let i = 0; i < 40; i++) leased.push(...(await comesUp(pool)));
    const heavyShare = leased.filter((l) => l.task.tenant === heavy).length;
    expect(heavyShare).toBeGreaterThanOrEqual(29);
    expect(heavyShare).toBeLessThanOrEqual(31);
    // The light tenant's first lease is its highest-priority task.
    expect(leased.find((l) => l.task.tenant === light)?.task.id).toBe(urgent.id);

    // A batch claim (20 machines ready at once) shares the same way.
    const { machines } = await reserveMachines(t.db, pool, 20, 'test');
    for (const m of machines) await markBooting(t.db, m.id, { providerId: `sim-${m.id}`, ip: '10.0.0.2' }, { actor: 'test' });
    await t.db.execute(sql`UPDATE machines SET state = 'ready', prev_state = 'booting' WHERE id = ANY(${sql.param(machines.map((m) => m.id))}::uuid[])`);
    const batch = await withTransaction(t.db, (tx) => claimLeases(tx, pool, 20, 'test'));
    expect(batch).toHaveLength(20);
    const heavyInBatch = batch.filter((l) => l.task.tenant === heavy).length;
    expect(heavyInBatch).toBeGreaterThanOrEqual(14);
    expect(heavyInBatch).toBeLessThanOrEqual(16);
  });
});

describe('tenant limits', () => {
  it('max_running holds over every pool, also when claims of two pools race; held tasks are not demand', async () => {
    const capped = await tenant('capped', { maxRunning: 3 });
    const pools = [(await addPool(t.db, { maxSize: 20 })).name, (await addPool(t.db, { maxSize: 20 })).name];
    for (const pool of pools) await burst(t.db, pool, capped, 10);
    const up = async (pool: string) => {
      const { machines } = await reserveMachines(t.db, pool, 4, 'test');
      for (const m of machines) await markBooting(t.db, m.id, { providerId: `sim-${m.id}`, ip: '10.0.0.3' }, { actor: 'test' });
      await t.db.execute(sql`UPDATE machines SET state = 'ready', prev_state = 'booting' WHERE id = ANY(${sql.param(machines.map((m) => m.id))}::uuid[])`);
    };
    await Promise.all(pools.map(up));
    // The first pool's claim leases and has not committed yet when the second pool's claim runs:
    // the second must wait for the tenant's turn and then count the first's leases.
    let commitFirst!: () => void;
    const held = new Promise<void>((resolve) => (commitFirst = resolve));
    let firstClaimed!: () => void;
    const claimed = new Promise<void>((resolve) => (firstClaimed = resolve));
    const first = withTransaction(t.db, async (tx) => {
      const made = await claimLeases(tx, pools[0]!, 4, 'test');
      firstClaimed();
      await held;
      return made;
    });
    await claimed;
    let secondDone = false;
    const second = withTransaction(t.db, (tx) => claimLeases(tx, pools[1]!, 4, 'test')).finally(() => (secondDone = true));
    const waiting = async () => Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows[0]?.n) > 0;
    await until(async () => secondDone || (await waiting()), 10_000);
    commitFirst();
    const leases = [...(await first), ...(await second)];
    expect(leases).toHaveLength(3);
    const loads = await Promise.all(pools.map((pool) => poolLoad(t.db, { name: pool, recycle: 'delete' })));
    expect(loads.map((l) => l.queued)).toEqual([0, 0]);
    expect(loads.reduce((n, l) => n + (l.held ?? 0), 0)).toBe(17);

    // One of its tasks ends: one place is free again, and the next claim takes it.
    const ended = await cancelTask(t.db, leases[0]!.task.id, { actor: 'test' });
    expect(ended.kind).toBe('ended');
    expect((await poolLoad(t.db, { name: pools[0]!, recycle: 'delete' })).queued).toBe(1);
    const again = (await Promise.all(pools.map((pool) => withTransaction(t.db, (tx) => claimLeases(tx, pool, 4, 'test'))))).flat();
    expect(again).toHaveLength(1);
    expect(await tenantOf(again[0]!.task.id)).toBe(capped);
  });

  it('max_queued refuses past the limit under concurrent submissions, writing nothing; a replay is never refused', async () => {
    const pool = (await addPool(t.db, { maxSize: 5 })).name;
    const limited = await tenant('limited', { maxQueued: 5 });
    const scope = { name: limited, maxQueued: 5 };
    const eventsBefore = Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM events`)).rows[0]?.n);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => submit(t.db, noRuns, { pool, payload: { i } }, { tenant: scope, idempotencyKey: `k-${i}` })),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(outcomes.length - refused.length).toBe(5);
    for (const r of refused) expect((r).reason).toBeInstanceOf(TenantLimit);
    const queued = await t.db.execute(sql`SELECT idempotency_key FROM tasks WHERE tenant = ${limited}`);
    expect(queued.rows).toHaveLength(5);
    expect(Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM events`)).rows[0]?.n) - eventsBefore).toBe(5);
    // A replay of an admitted key answers its task, full queue or not.
    const admittedKey = String(queued.rows[0]?.idempotency_key);
    const i = Number(admittedKey.slice(2));
    const replay = await submit(t.db, noRuns, { pool, payload: { i } }, { tenant: scope, idempotencyKey: admittedKey });
    expect(replay.created).toBe(false);
  });

  it('keeps idempotency keys per tenant: the same key names two tasks of two tenants', async () => {
    const pool = (await addPool(t.db)).name;
    const [one, two] = [await tenant('keys-one'), await tenant('keys-two')];
    const a = await submitTask(t.db, { pool, tenant: one, payload: {}, idempotencyKey: 'shared-key' }, { actor: 'test' });
    const b = await submitTask(t.db, { pool, tenant: two, payload: {}, idempotencyKey: 'shared-key' }, { actor: 'test' });
    expect(a.created && b.created).toBe(true);
    expect(a.task.id).not.toBe(b.task.id);
    const again = await submitTask(t.db, { pool, tenant: two, payload: {}, idempotencyKey: 'shared-key' }, { actor: 'test' });
    expect(again).toMatchObject({ created: false, task: { id: b.task.id } });
  });
});

describe('tenant sync', () => {
  it('upserts configured tenants, resets the ones no longer configured, keeps default', async () => {
    await syncTenants(t.db, [{ name: 'sync-x', weight: 5, maxQueued: 10, maxRunning: 2 }]);
    await syncTenants(t.db, [{ name: 'sync-y', weight: 2, maxQueued: null, maxRunning: null }]);
    const byName = new Map((await listTenants(t.db)).map((r) => [r.name, r]));
    expect(byName.get('sync-x')).toMatchObject({ weight: 1, maxQueued: null, maxRunning: null });
    expect(byName.get('sync-y')).toMatchObject({ weight: 2 });
    expect(byName.has(DEFAULT_TENANT)).toBe(true);
  });
});
