// The machine lifecycle phases on the sim provider: provision, readiness, stop, release, then
// reimage or delete-until-gone, including the failure paths; nothing is leaked at the cloud.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { allocate, checkInvariants, drainMachine, finishTask, getMachine, getTask, reserveMachines, settleStopped, startTask } from '../../src/machinery/index.js';
import { until } from '../support/until.js';
import type { MachineRow } from '../../src/db/index.js';
import type { LifecycleContext } from '../../src/scheduler/lifecycle/context.js';
import { converge } from '../../src/scheduler/lifecycle/converge.js';
import { provision } from '../../src/scheduler/lifecycle/provision.js';
import { awaitReady } from '../../src/scheduler/lifecycle/readiness.js';
import { stop } from '../../src/scheduler/lifecycle/teardown.js';
import type { ProviderRegistry } from '../../src/scheduler/providers.js';
import { useTestDatabase } from '../support/database.js';
import { testLifecycleContext } from '../support/lifecycle.js';
import { addPool, queueTasks } from '../support/fixtures.js';

const t = useTestDatabase('lifecycle', 8);
const fast = { bootDelayMs: 20, stopDelayMs: 5, terminateDelayMs: 5 };
const readiness = { bootTimeoutMs: 5000 };
const context = (): LifecycleContext => testLifecycleContext(t.db);

/** The machine's row as it is now (phases take rows, as the jobs pass them along). */
async function row(id: string): Promise<MachineRow> {
  const m = await getMachine(t.db, id);
  if (!m) throw new Error(`machine ${id} is gone`);
  return m;
}

async function simInstances(pool: string): Promise<{ phase: string }[]> {
  return (await t.db.execute(sql`SELECT phase FROM sim_cloud.instances WHERE pool = ${pool}`)).rows as { phase: string }[];
}

async function path(machineId: string): Promise<string[]> {
  const r = await t.db.execute(sql`SELECT to_state FROM events WHERE entity_id = ${machineId} ORDER BY id`);
  return r.rows.map((e) => String(e.to_state));
}

/** Provision and boot one machine of the pool; returns its id. */
async function readyMachine(ctx: LifecycleContext, pool: string): Promise<string> {
  const [m] = (await reserveMachines(t.db, pool, 1)).machines;
  expect((await provision(ctx, m!))?.state).toBe('booting');
  expect((await awaitReady(ctx, await row(m!.id), readiness))?.state).toBe('ready');
  return m!.id;
}

/** One task through the machine up to its stop. */
async function runTaskOn(ctx: LifecycleContext, pool: string): Promise<{ machineId: string; taskId: string }> {
  await queueTasks(t.db, pool, 1);
  const lease = (await allocate(t.db, { pool }))!;
  await startTask(t.db, lease.task.id, lease.machine.id, { actor: 'worker' });
  await finishTask(t.db, { machineId: lease.machine.id, taskId: lease.task.id }, { outcome: 'completed', result: { ok: true } }, { actor: 'worker' });
  // Stopping is confirmed by the provider, then settled in one transaction (stopped → released → …).
  expect((await stop(ctx, await row(lease.machine.id)))?.state).toMatch(/^(reimaging|deleting)$/);
  return { machineId: lease.machine.id, taskId: lease.task.id };
}

describe('machine lifecycle on the sim provider', () => {
  it('provisions, boots, serves a task, then converges: release and delete, leaving nothing behind', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: fast })).name;
    const machineId = await readyMachine(ctx, pool);
    expect((await getMachine(t.db, machineId))?.ip).toMatch(/^10\./);
    const { taskId } = await runTaskOn(ctx, pool);
    expect(await converge(ctx, await row(machineId), readiness)).toBe('gone');
    expect(await getMachine(t.db, machineId)).toBeNull();
    expect((await getTask(t.db, taskId))?.state).toBe('completed');
    expect(await path(machineId)).toEqual(['provisioning', 'booting', 'ready', 'leased', 'stopping', 'stopped', 'released', 'deleting', 'deleted']);
    expect(await simInstances(pool)).toEqual([{ phase: 'terminating' }]);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('reimages a machine back to ready until it reaches max_uses, then deletes it', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: fast, recycle: 'reimage', maxUses: 2 })).name;
    const machineId = await readyMachine(ctx, pool);
    await runTaskOn(ctx, pool);
    expect(await converge(ctx, await row(machineId), readiness)).toBe('ready');
    expect(await getMachine(t.db, machineId)).toMatchObject({ state: 'ready', uses: 1 });
    const second = await runTaskOn(ctx, pool);
    expect(second.machineId).toBe(machineId);
    expect(await converge(ctx, await row(machineId), readiness)).toBe('gone');
    expect(await simInstances(pool)).toEqual([{ phase: 'terminating' }]);
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('fails a machine the cloud has no capacity for, and deletes its row', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: { ...fast, faults: { capacityRate: 1 } } })).name;
    const [m] = (await reserveMachines(t.db, pool, 1)).machines;
    expect((await provision(ctx, m!))?.state).toBe('failed');
    expect((await getMachine(t.db, m!.id))?.lastError).toMatch(/no capacity/);
    expect(await converge(ctx, await row(m!.id), readiness)).toBe('gone');
    expect(await path(m!.id)).toEqual(['provisioning', 'failed', 'deleting', 'deleted']);
  });

  it('fails a machine not ready within the boot timeout and terminates its instance', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: { ...fast, bootDelayMs: 600_000 } })).name;
    const [m] = (await reserveMachines(t.db, pool, 1)).machines;
    expect((await provision(ctx, m!))?.state).toBe('booting');
    expect((await awaitReady(ctx, await row(m!.id), { bootTimeoutMs: 50 }))?.state).toBe('failed');
    expect(await converge(ctx, await row(m!.id), readiness)).toBe('gone');
    expect(await simInstances(pool)).toEqual([{ phase: 'terminating' }]);
  });

  it('retries a create that failed in flight and adopts the instance it may have made', async () => {
    const ctx = context();
    const flaky = await addPool(t.db, { settings: { ...fast, faults: { transientRate: 1, seed: 3 } } });
    const [m] = (await reserveMachines(t.db, flaky.name, 1)).machines;
    await expect(provision(ctx, m!)).rejects.toMatchObject({ kind: 'transient' });
    // The cloud recovers (same pool, settings without the fault); the job runs again.
    await addPool(t.db, { ...flaky, settings: fast });
    await ctx.pools.refresh();
    expect((await provision(ctx, m!))?.state).toBe('booting');
    expect(await simInstances(flaky.name)).toHaveLength(1);
  });

  it('records stopped only once the provider reports the instance stopped, not when the stop was asked for', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: { ...fast, stopDelayMs: 300 }, recycle: 'reimage' })).name;
    const machineId = await readyMachine(ctx, pool);
    const { taskId } = await runTaskOn(ctx, pool);
    const stopped = await t.db.execute(sql`
      SELECT e.at AS recorded, i.settles_at AS off FROM events e JOIN machines m ON m.id = e.entity_id
      JOIN sim_cloud.instances i ON i.id = m.provider_id
      WHERE e.entity_id = ${machineId} AND e.to_state = 'stopped'`);
    const { recorded, off } = stopped.rows[0] as { recorded: Date; off: Date };
    expect(new Date(recorded).getTime()).toBeGreaterThanOrEqual(new Date(off).getTime());
    expect((await getTask(t.db, taskId))?.state).toBe('completed');
  });

  it('asks for a delete once and watches it; asks again only while the instance still runs after a backoff', async () => {
    const base = context();
    const pool = (await addPool(t.db, { settings: fast, recycle: 'delete' })).name;
    const deletes: string[] = [];
    let dropNext = false;
    // A cloud that accepts a delete and does nothing (an operation that failed after acceptance), once.
    const registry = Object.assign(Object.create(base.providers) as ProviderRegistry, {
      for: (p: Parameters<ProviderRegistry['for']>[0]) => {
        const inner = base.providers.for(p);
        return Object.assign(Object.create(inner) as typeof inner, {
          delete: async (id: string, lookup?: Parameters<typeof inner.delete>[1]) => {
            deletes.push(id);
            if (dropNext) {
              dropNext = false;
              return;
            }
            await inner.delete(id, lookup);
          },
        });
      },
    });
    const ctx: LifecycleContext = { ...base, providers: registry, askAgainAfterMs: 300 };
    for (const drop of [false, true]) {
      deletes.length = 0;
      dropNext = drop;
      const id = await readyMachine(ctx, pool);
      await drainMachine(t.db, id, { actor: 'test' });
      expect(await converge(ctx, await row(id), readiness)).toBe('gone');
      // Stopping on the sim stops; only the delete goes through `delete`.
      expect(deletes).toHaveLength(drop ? 2 : 1);
    }
    expect((await simInstances(pool)).map((i) => i.phase)).toEqual(['terminating', 'terminating']);
  });

  it('re-requests a reimage a crash left recorded but never asked of the provider, instead of waiting out the boot timeout', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: fast, recycle: 'reimage' })).name;
    const machineId = await readyMachine(ctx, pool);
    await queueTasks(t.db, pool, 1);
    const lease = (await allocate(t.db, { pool }))!;
    await startTask(t.db, lease.task.id, machineId, { actor: 'worker' });
    await finishTask(t.db, { machineId, taskId: lease.task.id }, { outcome: 'completed' }, { actor: 'worker' });
    // The instance is stopped and the reimage recorded; the process dies before calling the provider.
    const provider = ctx.providers.for((await ctx.pools.get(pool)));
    const before = await row(machineId);
    await provider.stop(before.providerId!);
    await until(async () => (await provider.get(before.providerId!)).state === 'stopped');
    const settled = await settleStopped(t.db, before, () => 'reimage', { actor: 'worker' });
    expect(settled.machine?.state).toBe('reimaging');
    const started = Date.now();
    expect(await converge(ctx, await row(machineId), { bootTimeoutMs: 10_000 })).toBe('ready');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await row(machineId)).toMatchObject({ state: 'ready', uses: 1 });
    expect(await checkInvariants(t.db, { pool })).toEqual([]);
  });

  it('deletes a drained machine of a reimage pool instead of reimaging it back', async () => {
    const ctx = context();
    const pool = (await addPool(t.db, { settings: fast, recycle: 'reimage' })).name;
    const machineId = await readyMachine(ctx, pool);
    expect((await drainMachine(t.db, machineId, { actor: 'scaler' })).ok).toBe(true);
    expect(await converge(ctx, await row(machineId), readiness)).toBe('gone');
    expect(await path(machineId)).toEqual(['provisioning', 'booting', 'ready', 'draining', 'stopping', 'stopped', 'released', 'deleting', 'deleted']);
  });
});
