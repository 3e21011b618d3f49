// Why and what happened, over real HTTP: a queued task's waiting reason, a task's and a machine's
// history (tenant-scoped like the task), a deleted machine answered from its log, the daemons
// (alive by heartbeat, and the pools each leads by its real leader lock), and every list paged
// with {items, next_cursor}.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { openDatabase } from '../../src/db/index.js';
import { daemonSessionName, finalizeDelete, markFailed, registerDaemon, requestDelete, reserveMachines, upsertTenant } from '../../src/machinery/index.js';
import { LeaderLeases } from '../../src/scheduler/leader.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type MachineJob, type RunJob } from '../../src/scheduler/queue.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { useTestDatabase } from '../support/database.js';
import { addPool, readyMachines } from '../support/fixtures.js';

const t = useTestDatabase('history_api', 8, { queue: true });
let app: FastifyInstance;
let base = '';
let queues: { runs: Queue<RunJob>; machines: Queue<MachineJob> };
const tokens: Record<string, string> = {};

beforeAll(async () => {
  const namespace = `hist${randomUUID().slice(0, 6)}`;
  queues = {
    runs: createQueue<RunJob>(RUN_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
    machines: createQueue<MachineJob>(MACHINE_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
  };
  app = await buildApi({ db: t.db, queues, ready: () => Promise.resolve({ ok: true, checks: {} }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) });
  base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  await upsertTenant(t.db, { name: 'team-a', weight: 1, maxQueued: null, maxRunning: null });
  await upsertTenant(t.db, { name: 'team-b', weight: 1, maxQueued: null, maxRunning: null });
  tokens.operator = (await createToken(t.db, { name: 'op', role: 'operator' })).token;
  tokens.admin = (await createToken(t.db, { name: 'admin', role: 'admin' })).token;
  tokens.a = (await createToken(t.db, { name: 'a', role: 'submitter', tenant: 'team-a' })).token;
  tokens.b = (await createToken(t.db, { name: 'b', role: 'submitter', tenant: 'team-b' })).token;
});
afterAll(async () => {
  await app?.close();
  await Promise.all([queues?.runs.close(), queues?.machines.close()]);
});

async function get(path: string, token = tokens.operator!) {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, json: (await response.json()) as any };
}

/** Every item of a list, page by page, asserting each page holds at most `limit`. */
async function walk(path: string, limit: number, token?: string, from: string | null = null): Promise<any[]> {
  const items: any[] = [];
  let cursor = from;
  do {
    const page: { status: number; json: any } = await get(`${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(page.status).toBe(200);
    expect(page.json.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.json.items);
    cursor = page.json.next_cursor;
  } while (cursor);
  return items;
}

describe('why a task waits and what happened to it', () => {
  it('answers waiting_reason for queued tasks (no-daemon until one is alive), and a task history only to its tenant', async () => {
    const pool = (await addPool(t.db, { maxSize: 2 })).name;
    const submit = (token: string) => fetch(`${base}/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ pool, payload: {} }) }).then((r) => r.json() as Promise<any>);
    const task = await submit(tokens.a!);
    expect((await get(`/v1/tasks/${task.id}`, tokens.a)).json.waiting_reason).toBe('no-daemon');
    await registerDaemon(t.db, { id: randomUUID(), cluster: 'test', host: 'here', pid: 1 });
    expect((await get(`/v1/tasks/${task.id}`, tokens.a)).json.waiting_reason).toBe('waiting-for-machine');
    const listed = (await get(`/v1/tasks?pool=${pool}`, tokens.a)).json.items;
    expect(listed.map((x: any) => [x.id, x.waiting_reason])).toEqual([[task.id, 'waiting-for-machine']]);

    // A machine comes up; the next submission's claim leases it to the head of the line, the first task.
    const [machine] = await readyMachines(t.db, pool, 1);
    const other = await submit(tokens.a!);
    expect((await get(`/v1/tasks/${other.id}`, tokens.a)).json).toMatchObject({ state: 'queued', waiting_reason: 'waiting-for-machine' });
    const canceled = await fetch(`${base}/v1/tasks/${task.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${tokens.a}` } }).then((r) => r.json() as Promise<any>);
    expect([canceled.state, (await get(`/v1/tasks/${task.id}`, tokens.a)).json.waiting_reason]).toEqual(['canceled', null]);

    const events = await walk(`/v1/tasks/${task.id}/events`, 1, tokens.a);
    expect(events.map((e) => [e.kind, e.from, e.to, e.machine_id])).toEqual([
      ['cancel', 'assigned', 'canceled', machine!.id],
      ['assign', 'queued', 'assigned', machine!.id],
      ['create', null, 'queued', null],
    ]);
    expect(events[2]).toMatchObject({ entity: 'task', entity_id: task.id, task_id: task.id, actor: expect.stringMatching(/^api:a#/) });
    // Another tenant's task is as absent as one never made; an operator sees every tenant's.
    const hidden = await get(`/v1/tasks/${task.id}/events`, tokens.b);
    expect([hidden.status, hidden.json.detail]).toEqual([404, `no task with id ${task.id}`]);
    expect((await get(`/v1/tasks/${task.id}/events`)).json.items).toHaveLength(3);
    const bad = await get(`/v1/tasks/${task.id}/events?cursor=${Buffer.from('x').toString('base64url')}`, tokens.a);
    expect([bad.status, bad.json.errors?.[0]?.field]).toEqual([400, 'query.cursor']);

    // The machine's history names the task of its lease.
    const history = (await get(`/v1/machines/${machine!.id}/events?limit=100`)).json.items.reverse();
    expect(history.map((e: any) => [e.kind, e.to, e.task_id])).toEqual([
      ['create', 'provisioning', null],
      ['boot', 'booting', null],
      ['becomeReady', 'ready', null],
      ['lease', 'leased', task.id],
      ['beginStop', 'stopping', task.id],
    ]);
    expect((await get(`/v1/machines/${machine!.id}`)).json).toMatchObject({ state: 'stopping', deleted_at: null, tasks: [task.id] });
  });

  it('answers a deleted machine from its events, as deleted, and 404 for an id that never existed', async () => {
    const pool = (await addPool(t.db)).name;
    const { machines } = await reserveMachines(t.db, pool, 1, 'test');
    const id = machines[0]!.id;
    await markFailed(t.db, id, 'no capacity in eu-west-1a', { actor: 'test', reason: 'no capacity in eu-west-1a' });
    await requestDelete(t.db, id, { actor: 'test' });
    expect((await finalizeDelete(t.db, id, { actor: 'reaper' })).ok).toBe(true);
    const shown = await get(`/v1/machines/${id}`);
    expect(shown.status).toBe(200);
    expect(shown.json).toMatchObject({ id, name: machines[0]!.name, pool, provider: 'sim', provider_id: null, state: 'deleted', task_id: null, uses: 0, last_error: 'no capacity in eu-west-1a', tasks: [] });
    expect(shown.json.deleted_at).toBe(shown.json.events.at(-1).at);
    expect(shown.json.events.map((e: any) => e.kind)).toEqual(['create', 'fail', 'requestDelete', 'finalize']);
    expect((await get(`/v1/machines/${id}/events`)).json.items[0]).toMatchObject({ kind: 'finalize', from: 'deleting', to: 'deleted', actor: 'reaper' });
    // Listing shows rows only: the deleted machine is in no page.
    expect((await walk(`/v1/machines?pool=${pool}`, 100)).map((m) => m.id)).toEqual([]);
    const never = randomUUID();
    const missing = await get(`/v1/machines/${never}`);
    expect([missing.status, missing.json.detail]).toEqual([404, `no machine with id ${never}`]);
  });
});

describe('daemons and pages', () => {
  it('lists daemons newest first, alive by heartbeat, with the pools each leads by its leader lock; pools say how many are alive', async () => {
    const pool = (await addPool(t.db)).name;
    const cluster = `c-${randomUUID().slice(0, 6)}`;
    const leader = { id: randomUUID(), cluster, host: 'leader-host', pid: 42 };
    const silent = { id: randomUUID(), cluster, host: 'silent-host', pid: 43 };
    await registerDaemon(t.db, silent);
    await t.db.execute(sql`UPDATE daemons SET seen_at = now() - interval '10 minutes', started_at = now() - interval '1 hour' WHERE id = ${silent.id}`);
    await registerDaemon(t.db, leader);
    // A real leader lease, taken the way a daemon takes it, on a session named after the daemon.
    const session = openDatabase({ url: t.url, max: 2, applicationName: daemonSessionName(leader.id) });
    const leases = new LeaderLeases(session, cluster);
    try {
      expect(await leases.tryLead(pool)).toBe(true);
      const daemons = await walk('/v1/daemons', 1);
      const mine = daemons.filter((d) => d.cluster === cluster);
      expect(mine.map((d) => [d.id, d.host, d.pid, d.alive, d.leads])).toEqual([
        [leader.id, 'leader-host', 42, true, [pool]],
        [silent.id, 'silent-host', 43, false, []],
      ]);
      expect(mine[1].stopped_at).toBeNull();
      const pools = (await get('/v1/pools?limit=1')).json;
      expect(pools).toMatchObject({ items: [expect.any(Object)], next_cursor: expect.any(String), live_daemons: expect.any(Number) });
      expect(pools.live_daemons).toBeGreaterThanOrEqual(1);
      expect((await walk('/v1/pools', 1)).map((p) => p.name)).toEqual((await t.db.execute(sql`SELECT name FROM pools ORDER BY name`)).rows.map((r) => r.name));
    } finally {
      await leases.close();
      await session.close();
    }
    expect((await walk('/v1/daemons', 100)).find((d) => d.id === leader.id).leads).toEqual([]);
  });

  it('pages machines and tokens with keyset cursors that survive rows deleted between pages', async () => {
    const pool = (await addPool(t.db)).name;
    const made = await readyMachines(t.db, pool, 5);
    const first = (await get(`/v1/machines?pool=${pool}&limit=2`)).json;
    expect(first.items.map((m: any) => m.id)).toEqual(made.slice(0, 2).map((m) => m.id));
    // The last machine of the page goes away; its page's cursor still continues after it.
    await t.db.execute(sql`DELETE FROM machines WHERE id = ${made[1]!.id}`);
    const rest = await walk(`/v1/machines?pool=${pool}`, 2, tokens.operator, first.next_cursor);
    expect(rest.map((m) => m.id)).toEqual(made.slice(2).map((m) => m.id));
    const tokensSeen = await walk('/v1/tokens', 2, tokens.admin);
    expect(tokensSeen.map((x) => x.id)).toEqual((await t.db.execute(sql`SELECT id FROM api_tokens ORDER BY created_at, id`)).rows.map((r) => r.id));
    const tooMany = await get('/v1/tokens?limit=101', tokens.admin);
    expect([tooMany.status, tooMany.json.errors?.[0]?.field]).toEqual([400, 'query.limit']);
  });
});
