// The REST API over real HTTP on an ephemeral port, against a real database and queue: every
// endpoint of docs/api.md, and a table of malformed requests that each get their documented status
// and a problem+json body naming the problem, with the database unchanged after each.
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { openDatabase } from '../../src/db/index.js';
import { getMachine, upsertTenant } from '../../src/machinery/index.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type MachineJob, type RunJob } from '../../src/scheduler/queue.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import type { Queue } from 'bullmq';
import { useTestDatabase } from '../support/database.js';
import { addPool, readyMachines } from '../support/fixtures.js';
import { installStatementCounter, resetCounts, topStatements } from '../support/statement-counter.js';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';

const t = useTestDatabase('api', 12, { queue: true });
installStatementCounter();
let app: FastifyInstance;
let base = '';
let queues: { runs: Queue<RunJob>; machines: Queue<MachineJob> };
const tokens: Record<string, string> = {};
// Named up front: the case table below is built before beforeAll runs.
const pool = `linux-${randomUUID().slice(0, 6)}`;

beforeAll(async () => {
  const namespace = `api${randomUUID().slice(0, 6)}`;
  queues = {
    runs: createQueue<RunJob>(RUN_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
    machines: createQueue<MachineJob>(MACHINE_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
  };
  app = await buildApi({ db: t.db, queues, ready: () => Promise.resolve({ ok: true, checks: { database: 'ok' } }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: 'sandfleet_up 1\n' }) });
  base = (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  for (const role of ['submitter', 'operator', 'admin'] as const) tokens[role] = (await createToken(t.db, { name: role, role })).token;
  await addPool(t.db, { name: pool, platform: 'linux', tags: ['sandbox'], pricePerHour: 0.096 });
});
afterAll(async () => {
  await app?.close();
  await Promise.all([queues?.runs.close(), queues?.machines.close()]);
});

async function call(method: string, path: string, options: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  // `role:<name>` picks a token made in beforeAll (the case table is built before it runs).
  const token = options.token === undefined ? tokens.admin : options.token?.startsWith('role:') ? tokens[options.token.slice(5)] : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, body });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', json, headers: response.headers };
}

describe('endpoints', () => {
  it('submits, replays by Idempotency-Key, shows, lists with keyset pagination, and cancels tasks', async () => {
    const first = await call('POST', '/v1/tasks', { token: 'role:submitter', body: { pool, payload: { n: 1 } }, headers: { 'idempotency-key': 'k-1' } });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ pool, state: 'queued', priority: 50, max_attempts: 3, payload: { n: 1 } });
    const replay = await call('POST', '/v1/tasks', { token: 'role:submitter', body: { pool, payload: { n: 1 } }, headers: { 'idempotency-key': 'k-1' } });
    expect(replay.status).toBe(200);
    expect(replay.json.id).toBe(first.json.id);
    const bySelector = await call('POST', '/v1/tasks', { token: 'role:submitter', body: { platform: 'linux', tags: ['sandbox'], payload: {}, priority: 90 } });
    expect(bySelector.status).toBe(201);
    expect(bySelector.json.pool).toBe(pool);
    expect((await call('GET', `/v1/tasks/${first.json.id}`, { token: tokens.submitter })).json.id).toBe(first.json.id);

    for (let i = 0; i < 5; i++) await call('POST', '/v1/tasks', { token: 'role:submitter', body: { pool, payload: { i } } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await call('GET', `/v1/tasks?pool=${pool}&limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: tokens.submitter });
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((x: any) => x.id));
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    const all = (await t.db.execute(sql`SELECT id FROM tasks WHERE pool = ${pool} ORDER BY created_at DESC, id DESC`)).rows.map((r) => r.id);
    expect(seen).toEqual(all);
    expect((await call('GET', `/v1/tasks?state=queued&pool=${pool}&limit=100`)).json.items).toHaveLength(7);

    const canceled = await call('POST', `/v1/tasks/${first.json.id}/cancel`, { token: tokens.submitter });
    expect(canceled.status).toBe(200);
    expect(canceled.json.state).toBe('canceled');
    const again = await call('POST', `/v1/tasks/${first.json.id}/cancel`, { token: tokens.submitter });
    expect([again.status, again.json.state]).toEqual([200, 'canceled']);
  });

  it('lists, shows (with events) and drains machines, and lists pools with counts', async () => {
    const [m1, m2] = await readyMachines(t.db, pool, 2);
    const list = await call('GET', `/v1/machines?pool=${pool}&state=ready`, { token: tokens.operator });
    expect(list.status).toBe(200);
    expect(list.json.next_cursor).toBeNull();
    expect(list.json.items.map((m: any) => m.id).sort()).toEqual([m1!.id, m2!.id].sort());
    expect(list.json.items[0]).toMatchObject({ pool, provider: 'sim', state: 'ready', uses: 0, task_id: null });
    const one = await call('GET', `/v1/machines/${m1!.id}`, { token: tokens.operator });
    expect(one.json.events.map((e: any) => e.to)).toEqual(['provisioning', 'booting', 'ready']);
    const drained = await call('POST', `/v1/machines/${m1!.id}/drain`, { token: tokens.operator });
    expect([drained.status, drained.json.state]).toEqual([200, 'draining']);
    expect(await queues.machines.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
    const pools = await call('GET', '/v1/pools', { token: tokens.operator });
    const mine = pools.json.items.find((p: any) => p.name === pool);
    expect(mine).toMatchObject({ machines: { ready: 1, draining: 1 }, max_size: 10, price_per_hour: 0.096, cost_per_hour: 0.192 });
    expect(mine.queued_tasks).toBeGreaterThan(0);
  });

  it('answers 409 for a leased machine, and drains it after its task when asked', async () => {
    // A pool of its own: its one ready machine is leased in the submission itself.
    const own = (await addPool(t.db, { platform: 'linux' })).name;
    await readyMachines(t.db, own, 1);
    const submitted = await call('POST', '/v1/tasks', { body: { pool: own, payload: {} } });
    expect(submitted.json.state).toBe('assigned');
    const m = await getMachine(t.db, submitted.json.machine_id);
    expect(m?.state).toBe('leased');
    const refused = await call('POST', `/v1/machines/${m!.id}/drain`, { token: tokens.operator });
    expect(refused.status).toBe(409);
    expect(refused.type).toContain('application/problem+json');
    const after = await call('POST', `/v1/machines/${m!.id}/drain?after_task=true`, { token: tokens.operator });
    expect([after.status, after.json.state]).toEqual([200, 'leased']);
  });

  it('serves health, readiness, metrics, the OpenAPI document and the docs', async () => {
    expect((await call('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await call('GET', '/readyz', { token: null })).json.status).toBe('ready');
    expect((await call('GET', '/metrics', { token: null })).json).toContain('sandfleet_up');
    const openapi = await call('GET', '/openapi.json', { token: null });
    expect(Object.keys(openapi.json.paths)).toEqual(expect.arrayContaining(['/v1/tasks', '/v1/tasks/{id}', '/v1/tasks/{id}/cancel', '/v1/machines', '/v1/machines/{id}', '/v1/machines/{id}/drain', '/v1/pools']));
    expect(openapi.json.paths['/v1/tasks'].post.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect((await call('GET', '/docs', { token: null })).status).toBeLessThan(400);
  });

  it('creates, lists and revokes tokens for admins; a revoked token is refused', async () => {
    const created = await call('POST', '/v1/tokens', { body: { name: 'ci', role: 'submitter' } });
    expect(created.status).toBe(201);
    expect(created.json.token).toMatch(/^sf_/);
    const stored = await t.db.execute(sql`SELECT hash FROM api_tokens WHERE id = ${created.json.id}`);
    expect(stored.rows[0]?.hash).not.toContain(created.json.token);
    expect((await call('GET', '/v1/tokens?limit=100')).json.items.some((x: any) => x.id === created.json.id && !('token' in x) && !('hash' in x))).toBe(true);
    expect((await call('GET', '/v1/tasks', { token: created.json.token })).status).toBe(200);
    const used = await t.db.execute(sql`SELECT last_used_at FROM api_tokens WHERE id = ${created.json.id}`);
    expect(used.rows[0]?.last_used_at).not.toBeNull();
    expect((await call('POST', `/v1/tokens/${created.json.id}/revoke`)).json.revoked_at).not.toBeNull();
    expect((await call('GET', '/v1/tasks', { token: created.json.token })).status).toBe(401);
  });

  it('refuses an expired token with 401 saying it expired, and a lifetime out of range with 400 naming it', async () => {
    const created = await call('POST', '/v1/tokens', { body: { name: 'short', role: 'submitter', expires_in_s: 3600 } });
    expect(created.status).toBe(201);
    expect(Math.abs(Date.parse(created.json.expires_at) - Date.now() - 3_600_000)).toBeLessThan(60_000);
    expect((await call('GET', '/v1/tasks', { token: created.json.token })).status).toBe(200);
    // Its hour passes (by the database's clock, which decides).
    await t.db.execute(sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${created.json.id}`);
    const refused = await call('GET', '/v1/tasks', { token: created.json.token });
    expect(refused.status).toBe(401);
    expect(refused.type).toContain('application/problem+json');
    expect(refused.json.detail).toMatch(/expired at \d{4}-.*sandfleet tokens create/);
    const tooShort = await call('POST', '/v1/tokens', { body: { name: 'x', role: 'submitter', expires_in_s: 5 } });
    expect(tooShort.status).toBe(400);
    expect(JSON.stringify(tooShort.json)).toContain('expires_in_s');
  });

  it('limits each token to its requests per minute: 429 problem+json with Retry-After, nothing written, other tokens unaffected', async () => {
    const limited = await buildApi({ db: t.db, queues, tokenRequestsPerMinute: 3, ready: () => Promise.resolve({ ok: true, checks: {} }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) });
    const url = (await limited.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    try {
      const asToken = (token: string, method = 'GET', body?: unknown) =>
        fetch(`${url}/v1/tasks`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      for (let i = 0; i < 3; i++) expect((await asToken(tokens.submitter!)).status).toBe(200);
      const before = Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks`)).rows[0]?.n);
      const refused = await asToken(tokens.submitter!, 'POST', { pool, payload: {} });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/more than 3 requests in a minute; retry in/);
      expect(Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM tasks`)).rows[0]?.n)).toBe(before);
      // Another token has a budget of its own; public routes have none.
      expect((await asToken(tokens.operator!)).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('answers 503 with Retry-After, not 500, when no database connection comes free in time', async () => {
    const starved = openDatabase({ url: t.url, max: 1, connectTimeoutMs: 200 });
    const busy = await buildApi({ db: starved.db, queues, ready: () => Promise.resolve({ ok: true, checks: {} }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) });
    const held = await starved.pool.connect();
    try {
      const address = (await busy.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
      const response = await fetch(`${address}/v1/tasks`, { headers: { authorization: `Bearer ${tokens.submitter}` } });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('2');
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await response.json()) as { detail: string }).detail).toMatch(/retry in 2 s/);
    } finally {
      held.release();
      await busy.close();
      await starved.close();
    }
  });

  it('costs a token one read per request: its last use is written once a minute at most', async () => {
    const { token } = await createToken(t.db, { name: 'busy', role: 'submitter' });
    resetCounts();
    for (let i = 0; i < 5; i++) expect((await call('POST', '/v1/tasks', { token, body: { pool, payload: { i } } })).status).toBe(201);
    const onTokens = (verb: string) => topStatements(100).filter(([text]) => text.startsWith(verb) && text.includes('api_tokens')).reduce((n, [, c]) => n + c, 0);
    expect(onTokens('SELECT')).toBe(5);
    expect(onTokens('UPDATE')).toBe(1);
  });
});

/** Sends `text` as it is on a fresh connection; answers the response's status line, content type and body. */
async function raw(text: string): Promise<{ status: number; type: string; body: string }> {
  const { port } = new URL(base);
  const socket = connect(Number(port), '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(text);
  await new Promise((resolve) => socket.once('close', resolve));
  const [head = '', body = ''] = received.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), type: /content-type: ([^\r]+)/i.exec(head)?.[1] ?? '', body };
}

describe('tenants', () => {
  const digest = async () => (await t.db.execute(sql`SELECT (SELECT count(*) FROM tasks)::int AS tasks, (SELECT count(*) FROM events)::int AS events`)).rows[0];

  it('a submitter sees, cancels and lists only its tenant\'s tasks (others\' answer 404); operators see all, with a tenant filter', async () => {
    await upsertTenant(t.db, { name: 'team-red', weight: 1, maxQueued: null, maxRunning: null });
    await upsertTenant(t.db, { name: 'team-blue', weight: 1, maxQueued: null, maxRunning: null });
    const red = (await createToken(t.db, { name: 'red-bot', role: 'submitter', tenant: 'team-red' })).token;
    const blue = (await createToken(t.db, { name: 'blue-bot', role: 'submitter', tenant: 'team-blue' })).token;
    const redTask = (await call('POST', '/v1/tasks', { token: red, body: { pool, payload: { team: 'red' } }, headers: { 'idempotency-key': 'same-key' } })).json;
    const blueTask = await call('POST', '/v1/tasks', { token: blue, body: { pool, payload: { team: 'blue' } }, headers: { 'idempotency-key': 'same-key' } });
    // The same key in another tenant is another task, not a conflict that would name red's.
    expect(blueTask.status).toBe(201);
    expect(redTask.tenant).toBe('team-red');

    for (const [method, path] of [['GET', `/v1/tasks/${redTask.id}`], ['POST', `/v1/tasks/${redTask.id}/cancel`]] as const) {
      const refused = await call(method, path, { token: blue });
      expect(refused.status).toBe(404);
      expect(refused.json.detail).toBe(`no task with id ${redTask.id}`);
    }
    expect((await call('GET', `/v1/tasks/${redTask.id}`, { token: red })).json.state).toBe('queued');
    const blueList = (await call('GET', '/v1/tasks?limit=100', { token: blue })).json.items as { tenant: string }[];
    expect(blueList.length).toBeGreaterThan(0);
    expect(new Set(blueList.map((i) => i.tenant))).toEqual(new Set(['team-blue']));
    const peek = await call('GET', '/v1/tasks?tenant=team-red', { token: blue });
    expect(peek.status).toBe(403);
    expect(peek.type).toContain('application/problem+json');
    // A cursor taken from another tenant's task is not one this token was given.
    const foreignCursor = Buffer.from(redTask.id).toString('base64url');
    expect((await call('GET', `/v1/tasks?cursor=${foreignCursor}`, { token: blue })).status).toBe(400);

    const all = (await call('GET', '/v1/tasks?limit=100', { token: 'role:operator' })).json.items as { tenant: string }[];
    expect(new Set(all.map((i) => i.tenant))).toEqual(new Set(['default', 'team-red', 'team-blue']));
    const onlyRed = (await call('GET', '/v1/tasks?tenant=team-red', { token: 'role:operator' })).json.items as { id: string }[];
    expect(onlyRed.map((i) => i.id)).toEqual([redTask.id]);
    expect((await call('POST', `/v1/tasks/${redTask.id}/cancel`, { token: red })).json.state).toBe('canceled');
  });

  it('refuses a submission past max_queued with 429 and Retry-After, writing nothing', async () => {
    await upsertTenant(t.db, { name: 'team-small', weight: 1, maxQueued: 2, maxRunning: null });
    const small = (await createToken(t.db, { name: 'small-bot', role: 'submitter', tenant: 'team-small' })).token;
    for (let i = 0; i < 2; i++) expect((await call('POST', '/v1/tasks', { token: small, body: { pool, payload: { i } } })).status).toBe(201);
    const before = await digest();
    const refused = await call('POST', '/v1/tasks', { token: small, body: { pool, payload: { i: 2 } } });
    expect(refused.status).toBe(429);
    expect(refused.type).toContain('application/problem+json');
    expect(refused.json.detail).toContain('max_queued');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await digest()).toEqual(before);
  });

  it('makes tokens for a declared tenant only (422 naming the tenants), and names the token in the events its actions write', async () => {
    const unknown = await call('POST', '/v1/tokens', { body: { name: 'x', role: 'submitter', tenant: 'team-nobody' } });
    expect(unknown.status).toBe(422);
    expect(unknown.json.detail).toContain('team-nobody');
    expect(unknown.json.detail).toContain('default');
    const made = await call('POST', '/v1/tokens', { body: { name: 'audited', role: 'submitter', tenant: 'team-red' } });
    expect(made.status).toBe(201);
    expect(made.json.tenant).toBe('team-red');
    const task = (await call('POST', '/v1/tasks', { token: made.json.token, body: { pool, payload: {} } })).json;
    await call('POST', `/v1/tasks/${task.id}/cancel`, { token: made.json.token });
    const actors = (await t.db.execute(sql`SELECT actor FROM events WHERE entity_id = ${task.id} ORDER BY id`)).rows.map((r) => r.actor);
    expect(actors).toEqual([`api:audited#${made.json.id}`, `api:audited#${made.json.id}`]);
  });
});

describe('refusals before any route', () => {
  it.each([
    ['headers too large', `GET /v1/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, /headers are larger/],
    ['not HTTP at all', 'HELLO THERE\r\n\r\n', 400, /not well-formed HTTP/],
    ['a URL that does not decode', 'GET /v1/tasks/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400, /percent-encoding/],
    ['an Expect header other than 100-continue', 'POST /v1/tasks HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}', 417, /100-continue.*teapot/],
  ])('%s: problem+json naming it', async (_, request, status, detail) => {
    const answer = await raw(request);
    expect(answer.status).toBe(status);
    expect(answer.type).toContain('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject({ status, detail: expect.stringMatching(detail) });
  });
});

describe('malformed requests', () => {
  const digest = async () =>
    (await t.db.execute(sql`
      SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM tasks t) AS tasks,
             (SELECT md5(coalesce(string_agg(m::text, '|' ORDER BY id), '')) FROM machines m) AS machines,
             (SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY name), '')) FROM pools p) AS pools,
             (SELECT md5(coalesce(string_agg(k::text, '|' ORDER BY id), '')) FROM api_tokens k) AS tokens,
             (SELECT count(*) FROM events) AS events`)).rows[0];

  const id = () => randomUUID();
  const big = 'x'.repeat(1_100_000);
  type Case = [name: string, method: string, path: () => string, options: Parameters<typeof call>[2], status: number, names: RegExp];
  const cases: Case[] = [
    ['no token', 'GET', () => '/v1/tasks', { token: null }, 401, /Authorization: Bearer/],
    ['garbage token', 'GET', () => '/v1/tasks', { token: 'nope' }, 401, /not valid/],
    ['token of another shape', 'GET', () => '/v1/tasks', { token: 'sf_' + 'A'.repeat(43) }, 401, /not valid/],
    ['basic auth', 'GET', () => '/v1/tasks', { token: null, headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, /not valid/],
    ['submitter lists machines', 'GET', () => '/v1/machines', { token: 'role:submitter' }, 403, /operator role/],
    ['submitter drains', 'POST', () => `/v1/machines/${id()}/drain`, { token: 'role:submitter' }, 403, /operator role/],
    ['submitter lists pools', 'GET', () => '/v1/pools', { token: 'role:submitter' }, 403, /operator role/],
    ['operator makes tokens', 'POST', () => '/v1/tokens', { token: 'role:operator', body: { name: 'x', role: 'admin' } }, 403, /admin role/],
    ['operator lists tokens', 'GET', () => '/v1/tokens', { token: 'role:operator' }, 403, /admin role/],
    ['unknown field', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, color: 'red' } }, 400, /body\.color/],
    ['two unknown fields', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, a: 1, b: 2 } }, 400, /body\.a.*body\.b|body\.b.*body\.a/s],
    ['missing payload', 'POST', () => '/v1/tasks', { body: { pool } }, 400, /body\.payload/],
    ['payload a string', 'POST', () => '/v1/tasks', { body: { pool, payload: 'x' } }, 400, /body\.payload/],
    ['payload an array', 'POST', () => '/v1/tasks', { body: { pool, payload: [1] } }, 400, /body\.payload/],
    ['payload null', 'POST', () => '/v1/tasks', { body: { pool, payload: null } }, 400, /body\.payload/],
    ['payload over 64 KiB', 'POST', () => '/v1/tasks', { body: { pool, payload: { blob: 'y'.repeat(70_000) } } }, 400, /body\.payload/],
    ['priority a string', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, priority: '5' } }, 400, /body\.priority/],
    ['priority too high', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, priority: 101 } }, 400, /body\.priority/],
    ['priority negative', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, priority: -1 } }, 400, /body\.priority/],
    ['priority fractional', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, priority: 1.5 } }, 400, /body\.priority/],
    ['timeout zero', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, timeout_s: 0 } }, 400, /body\.timeout_s/],
    ['timeout over a day', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, timeout_s: 86_401 } }, 400, /body\.timeout_s/],
    ['max_attempts 11', 'POST', () => '/v1/tasks', { body: { pool, payload: {}, max_attempts: 11 } }, 400, /body\.max_attempts/],
    ['platform unknown', 'POST', () => '/v1/tasks', { body: { platform: 'macos', payload: {} } }, 400, /body\.platform/],
    ['tags not a list', 'POST', () => '/v1/tasks', { body: { tags: 'a', payload: {} } }, 400, /body\.tags/],
    ['tag empty', 'POST', () => '/v1/tasks', { body: { tags: [''], payload: {} } }, 400, /body\.tags\.0/],
    ['pool a number', 'POST', () => '/v1/tasks', { body: { pool: 7, payload: {} } }, 400, /body\.pool/],
    ['body an array', 'POST', () => '/v1/tasks', { body: [1, 2] }, 400, /body/],
    ['body not JSON', 'POST', () => '/v1/tasks', { raw: '{"pool": ' }, 400, /not valid JSON/],
    // Text PostgreSQL cannot store is refused at the door, naming where it is (it answered 500 before).
    ['NUL in the payload', 'POST', () => '/v1/tasks', { raw: `{"pool": "${pool}", "payload": {"note": "a\\u0000b"}}` }, 400, /body\.payload\.note.*NUL/],
    ['NUL in a payload key', 'POST', () => '/v1/tasks', { raw: `{"pool": "${pool}", "payload": {"a\\u0000": 1}}` }, 400, /body\.payload\.a.*NUL/],
    ['lone surrogate in the payload', 'POST', () => '/v1/tasks', { raw: `{"pool": "${pool}", "payload": {"s": ["ok", "\\ud800"]}}` }, 400, /body\.payload\.s\.1.*surrogate/],
    ['reversed surrogates in the pool', 'POST', () => '/v1/tasks', { raw: `{"pool": "\\udc00\\ud800", "payload": {}}` }, 400, /body\.pool.*surrogate/],
    // Found by the fuzzer: this overflowed the storable walk's stack (500).
    ['payload nested 100,000 deep', 'POST', () => '/v1/tasks', { raw: `{"pool": "${pool}", "payload": {"a": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}` }, 400, /body\.payload\.a\.0\.0.*levels deep/],
    ['encoded NUL in a query', 'GET', () => '/v1/machines?pool=%00', {}, 400, /query\.pool.*NUL/],
    ['body as text/plain', 'POST', () => '/v1/tasks', { raw: 'hello', headers: { 'content-type': 'text/plain' } }, 415, /application\/json/],
    ['body over 1 MiB', 'POST', () => '/v1/tasks', { body: { pool, payload: { big } } }, 413, /1 MiB/],
    ['unknown pool', 'POST', () => '/v1/tasks', { body: { pool: 'nope', payload: {} } }, 422, /nope/],
    ['no pool has the tag', 'POST', () => '/v1/tasks', { body: { tags: ['gpu-xyz'], payload: {} } }, 422, /gpu-xyz/],
    ['idempotency key reused with another body', 'POST', () => '/v1/tasks', { body: { pool, payload: { other: true } }, headers: { 'idempotency-key': 'k-1' } }, 409, /idempotency key was already used for task [0-9a-f-]{36}/],
    ['idempotency key with spaces', 'POST', () => '/v1/tasks', { body: { pool, payload: {} }, headers: { 'idempotency-key': 'a b' } }, 400, /idempotency-key/],
    ['idempotency key too long', 'POST', () => '/v1/tasks', { body: { pool, payload: {} }, headers: { 'idempotency-key': 'k'.repeat(201) } }, 400, /idempotency-key/],
    ['task id not a uuid', 'GET', () => '/v1/tasks/123', {}, 400, /params\.id/],
    ['task id unknown', 'GET', () => `/v1/tasks/${id()}`, {}, 404, /no task/],
    ['cancel unknown task', 'POST', () => `/v1/tasks/${id()}/cancel`, {}, 404, /no task/],
    ['cancel bad id', 'POST', () => '/v1/tasks/x/cancel', {}, 400, /params\.id/],
    ['limit zero', 'GET', () => '/v1/tasks?limit=0', {}, 400, /query\.limit/],
    ['limit 101', 'GET', () => '/v1/tasks?limit=101', {}, 400, /query\.limit/],
    ['limit text', 'GET', () => '/v1/tasks?limit=ten', {}, 400, /query\.limit/],
    ['state unknown', 'GET', () => '/v1/tasks?state=sleeping', {}, 400, /query\.state/],
    ['unknown query parameter', 'GET', () => '/v1/tasks?sort=asc', {}, 400, /query\.sort/],
    ['cursor garbage', 'GET', () => '/v1/tasks?cursor=!!!', {}, 400, /query\.cursor/],
    ['cursor of no task', 'GET', () => `/v1/tasks?cursor=${Buffer.from(id()).toString('base64url')}`, {}, 400, /cursor/],
    ['cursor decoding to junk', 'GET', () => '/v1/tasks?cursor=abcdef', {}, 400, /cursor/],
    ['machine id not a uuid', 'GET', () => '/v1/machines/abc', {}, 400, /params\.id/],
    ['machine unknown', 'GET', () => `/v1/machines/${id()}`, {}, 404, /no machine/],
    ['drain unknown machine', 'POST', () => `/v1/machines/${id()}/drain`, {}, 404, /no machine/],
    ['drain after_task=yes', 'POST', () => `/v1/machines/${id()}/drain?after_task=yes`, {}, 400, /query\.after_task/],
    ['machine state unknown', 'GET', () => '/v1/machines?state=asleep', {}, 400, /query\.state/],
    ['machines limit 101', 'GET', () => '/v1/machines?limit=101', {}, 400, /query\.limit/],
    ['machines cursor of another list', 'GET', () => `/v1/machines?cursor=${Buffer.from(id()).toString('base64url')}`, {}, 400, /query\.cursor|cursor/],
    ['pools cursor decoding to a control character', 'GET', () => `/v1/pools?cursor=${Buffer.from('a\u0001').toString('base64url')}`, {}, 400, /cursor/],
    ['tokens cursor garbage', 'GET', () => '/v1/tokens?cursor=!!', {}, 400, /query\.cursor/],
    ['events cursor not an event id', 'GET', () => `/v1/machines/${id()}/events?cursor=${Buffer.from('0').toString('base64url')}`, {}, 400, /cursor/],
    ['events of a machine that never was', 'GET', () => `/v1/machines/${id()}/events`, {}, 404, /no machine with id/],
    ['events of an unknown task', 'GET', () => `/v1/tasks/${id()}/events`, {}, 404, /no task with id/],
    ['submitter lists daemons', 'GET', () => '/v1/daemons', { token: 'role:submitter' }, 403, /operator role/],
    ['token role unknown', 'POST', () => '/v1/tokens', { body: { name: 'x', role: 'root' } }, 400, /body\.role/],
    ['token without name', 'POST', () => '/v1/tokens', { body: { role: 'admin' } }, 400, /body\.name/],
    ['revoke unknown token', 'POST', () => `/v1/tokens/${id()}/revoke`, {}, 404, /no token/],
    ['unknown route', 'GET', () => '/v1/nothing', {}, 404, /no route/],
    ['wrong method', 'DELETE', () => '/v1/tasks', {}, 404, /no route/],
  ];

  it(`has at least 40 cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases)('%s → %i', async (_name, method, path, options, status, names) => {
    // Make sure the replayed key exists before the conflict case runs.
    await call('POST', '/v1/tasks', { body: { pool, payload: { n: 1 } }, headers: { 'idempotency-key': 'k-1' } });
    const before = await digest();
    const response = await call(method, path(), options);
    expect(response.status).toBe(status);
    expect(response.type).toContain('application/problem+json');
    expect(response.json).toMatchObject({ status, type: expect.stringContaining('https://'), title: expect.any(String), detail: expect.any(String) });
    expect(JSON.stringify(response.json)).toMatch(names);
    if (status === 400 && response.json.errors) for (const e of response.json.errors) expect(e.field).toEqual(expect.any(String));
    expect(await digest()).toEqual(before);
  });
});
