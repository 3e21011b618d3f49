// The OpenAPI document as a contract: a daemon on a real database serves it; Redocly's linter
// passes it under redocly.yaml (and fails a broken copy); the committed typed client
// (src/ui/generated/openapi.ts) is exactly what openapi-typescript generates from it; and
// that client, through openapi-fetch, drives every operation over real HTTP, each answer checked
// against the document: status, content type, body schema, headers and refusal type.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/logger.js';
import { openDatabase } from '../../src/db/index.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type MachineJob, type RunJob } from '../../src/scheduler/queue.js';
import { createToken } from '../../src/scheduler/service/tokens.js';
import { useTestDatabase } from '../support/database.js';
import type { paths } from '../../src/ui/generated/openapi.js';
import { clientTypes, GENERATED_CLIENT } from '../support/openapi-client.js';
import { Conformance } from '../support/openapi-conformance.js';
import { documentWithoutDatabase, type OpenApiDocument } from '../support/openapi-document.js';
import { lintDocument } from '../support/openapi-lint.js';
import { until } from '../support/until.js';

const t = useTestDatabase('openapi', 8);
let daemon: RunningDaemon;
let base = '';
let document: OpenApiDocument;
let conformance: Conformance;
const tokens = { submitter: '', operator: '', admin: '', small: '' };

const CONFIG = `
cluster: openapi-test
api: { host: 127.0.0.1, port: 0 }
scheduler: { supervise_every_ms: 200, shutdown_grace_s: 1 }
tenants:
  - { name: small, max_queued: 1 }
pools:
  - name: quick
    provider: sim
    min_ready: 1
    max_size: 2
    idle_timeout_s: 3600
    settings: { bootDelayMs: 50, stopDelayMs: 20, terminateDelayMs: 20 }
    runner: { kind: sim, min_duration_ms: 20, max_duration_ms: 100 }
  # Its one machine boots for an hour: tasks sent here stay queued.
  - name: slow
    provider: sim
    max_size: 1
    settings: { bootDelayMs: 3600000 }
  - name: agents
    provider: sim
    min_ready: 1
    max_size: 1
    recycle: reimage
    idle_timeout_s: 3600
    settings: { bootDelayMs: 50, stopDelayMs: 20, terminateDelayMs: 20 }
    runner: { kind: agent, heartbeat_timeout_s: 60 }
`;

/** Every answer a client saw, as `operationId status`, and what did not match the document. */
const seen = new Set<string>();
const violations: string[] = [];

/** openapi-fetch middleware: each answer is checked against the document as it arrives. */
const checked: Middleware = {
  async onResponse({ request, response, schemaPath }) {
    const answer = { method: request.method, path: schemaPath, status: response.status, headers: response.headers, text: await response.clone().text() };
    violations.push(...conformance.check(answer));
    const operationId = (document.paths[schemaPath]?.[request.method.toLowerCase()] as { operationId?: string } | undefined)?.operationId ?? `${request.method} ${schemaPath}`;
    seen.add(`${operationId} ${response.status}`);
    return response;
  },
};

function client(baseUrl: string, credential: string | null): Client<paths> {
  const made = createClient<paths>({ baseUrl, ...(credential ? { headers: { authorization: `Bearer ${credential}` } } : {}) });
  made.use(checked);
  return made;
}

beforeAll(async () => {
  daemon = await startDaemon(parseConfig(CONFIG, 'openapi-test.yaml', { DATABASE_URL: t.url }), createLogger('silent', { cluster: 'openapi-test' }));
  base = `http://127.0.0.1:${daemon.port}`;
  for (const role of ['submitter', 'operator', 'admin'] as const) tokens[role] = (await createToken(t.db, { name: `openapi-${role}`, role })).token;
  tokens.small = (await createToken(t.db, { name: 'openapi-small', role: 'submitter', tenant: 'small' })).token;
  document = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
  conformance = new Conformance(document);
}, 120_000);
afterAll(async () => {
  await daemon?.stop();
});

describe('the OpenAPI document', () => {
  it('is served the same by a daemon on a database as by the document-only build the client is generated from', async () => {
    expect(document).toEqual(await documentWithoutDatabase());
  });

  it('passes redocly lint under redocly.yaml, with no error or warning', async () => {
    const result = await lintDocument(document);
    expect(result.problems).toEqual([]);
    expect(result.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
    expect(result.exitCode).toBe(0);
  });

  it('fails the lint when an operation lacks a summary or an example does not match its schema', async () => {
    const broken = structuredClone(document) as OpenApiDocument & { components: { schemas: Record<string, { examples: Record<string, unknown>[] }> } };
    delete broken.paths['/v1/pools']!.get!.summary;
    broken.components.schemas.Task!.examples[0]!.state = 'sleeping';
    const result = await lintDocument(broken);
    expect(result.exitCode).not.toBe(0);
    expect(result.problems.map((p) => p.ruleId).sort()).toEqual(['no-invalid-schema-examples', 'operation-summary']);
  });

  it('generates, with openapi-typescript, exactly the committed client types (else run `npm run openapi:generate`)', async () => {
    const generated = await clientTypes(document);
    const committed = readFileSync(GENERATED_CLIENT, 'utf8');
    expect(generated === committed, `${GENERATED_CLIENT} is not what the served document generates: run \`npm run openapi:generate\``).toBe(true);
  });

  it('documents for every operation a summary, an operationId, its answers and its security', () => {
    const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op: op as Record<string, any> })));
    expect(operations.length).toBeGreaterThanOrEqual(18);
    for (const { path, method, op } of operations) {
      const label = `${method.toUpperCase()} ${path}`;
      expect(op.summary, label).toEqual(expect.any(String));
      expect(op.operationId, label).toEqual(expect.any(String));
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => s.startsWith('2')), label).toBe(true);
      expect(statuses, label).toEqual(expect.arrayContaining(['500', '4XX']));
      const publicRoute = ['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(path);
      // Public operations take no credential; the others name theirs (the document's default is the bearer token).
      if (publicRoute) expect(op.security, label).toEqual([]);
      else expect(statuses, label).toEqual(expect.arrayContaining(['401', '503']));
    }
    const submit = document.paths['/v1/tasks']!.post as Record<string, any>;
    expect(submit.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'Idempotency-Key' }));
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '409', '413', '415', '422', '429', '503']));
    expect(submit.responses['201'].headers).toHaveProperty('Location');
    expect(submit.responses['429'].headers).toHaveProperty('Retry-After');
  });
});

describe('a client generated from the document', () => {
  it('submits with an Idempotency-Key, replays it, lists, waits for the task to complete, and cancels another', async () => {
    const submitter = client(base, tokens.submitter);
    const key = `openapi-${randomUUID()}`;
    const first = await submitter.POST('/v1/tasks', { params: { header: { 'Idempotency-Key': key } }, body: { pool: 'quick', payload: { sample: 'a.exe' } } });
    expect(first.response.status).toBe(201);
    const task = first.data!;
    expect(first.response.headers.get('location')).toBe(`/v1/tasks/${task.id}`);
    const replay = await submitter.POST('/v1/tasks', { params: { header: { 'Idempotency-Key': key } }, body: { pool: 'quick', payload: { sample: 'a.exe' } } });
    expect([replay.response.status, replay.data?.id]).toEqual([200, task.id]);
    const conflict = await submitter.POST('/v1/tasks', { params: { header: { 'Idempotency-Key': key } }, body: { pool: 'quick', payload: { sample: 'b.exe' } } });
    expect([conflict.response.status, conflict.error?.type]).toEqual([409, 'https://sandfleet.dev/problems/idempotency-conflict']);

    const listed = await submitter.GET('/v1/tasks', { params: { query: { pool: 'quick', limit: 10 } } });
    expect(listed.data?.items.map((i) => i.id)).toContain(task.id);
    await until(async () => (await submitter.GET('/v1/tasks/{id}', { params: { path: { id: task.id } } })).data?.state === 'completed', 60_000);
    const history = (await submitter.GET('/v1/tasks/{id}/events', { params: { path: { id: task.id } } })).data!.items;
    expect(history[0]?.to).toBe('completed');
    expect(history.some((e) => e.machine_id !== null)).toBe(true);

    const other = await submitter.POST('/v1/tasks', { body: { pool: 'slow', payload: { sample: 'c.exe' } } });
    expect(other.data?.state).toBe('queued');
    const canceled = await submitter.POST('/v1/tasks/{id}/cancel', { params: { path: { id: other.data!.id } } });
    expect(canceled.data?.state).toBe('canceled');
  });

  it('refuses as documented: 400, 401, 403, 404, 413, 415, 422, and 429 for a tenant past max_queued', async () => {
    const submitter = client(base, tokens.submitter);
    expect((await submitter.GET('/v1/tasks', { params: { query: { limit: 0 } } })).error?.errors?.[0]?.field).toBe('query.limit');
    expect((await submitter.GET('/v1/tasks/{id}', { params: { path: { id: 'not-a-uuid' } } })).response.status).toBe(400);
    expect((await client(base, null).GET('/v1/tasks')).response.status).toBe(401);
    expect((await submitter.GET('/v1/machines')).response.status).toBe(403);
    expect((await submitter.GET('/v1/tasks', { params: { query: { tenant: 'small' } } })).error?.type).toMatch(/tenant-hidden$/);
    expect((await submitter.GET('/v1/tasks/{id}', { params: { path: { id: randomUUID() } } })).response.status).toBe(404);
    const big = await submitter.POST('/v1/tasks', { body: { pool: 'quick', payload: { blob: 'x'.repeat(1_100_000) } } });
    expect(big.response.status).toBe(413);
    const text = await submitter.POST('/v1/tasks', { body: { pool: 'quick', payload: {} }, bodySerializer: () => 'pool=quick', headers: { 'content-type': 'text/plain' } });
    expect(text.response.status).toBe(415);
    expect((await submitter.POST('/v1/tasks', { body: { pool: 'no-such-pool', payload: {} } })).error?.type).toMatch(/unserviceable$/);

    const small = client(base, tokens.small);
    const queued = await small.POST('/v1/tasks', { body: { pool: 'slow', payload: {} } });
    expect(queued.response.status).toBe(201);
    const refused = await small.POST('/v1/tasks', { body: { pool: 'slow', payload: {} } });
    expect([refused.response.status, refused.response.headers.get('retry-after')]).toEqual([429, '10']);
    await small.POST('/v1/tasks/{id}/cancel', { params: { path: { id: queued.data!.id } } });
  });

  it('shows machines and pools, drains, and manages tokens (422 for an undeclared tenant)', async () => {
    const operator = client(base, tokens.operator);
    const machines = (await operator.GET('/v1/machines', { params: { query: { pool: 'quick' } } })).data!.items;
    expect(machines.length).toBeGreaterThan(0);
    const shown = await operator.GET('/v1/machines/{id}', { params: { path: { id: machines[0]!.id } } });
    expect(shown.data?.events.length).toBeGreaterThan(0);
    const history = await operator.GET('/v1/machines/{id}/events', { params: { path: { id: machines[0]!.id }, query: { limit: 1 } } });
    expect(history.data?.items).toHaveLength(1);
    expect(history.data?.items[0]?.entity_id).toBe(machines[0]!.id);
    expect((await operator.GET('/v1/machines/{id}', { params: { path: { id: randomUUID() } } })).response.status).toBe(404);
    const pools = (await operator.GET('/v1/pools')).data!;
    expect(pools.items.map((p) => p.name).sort()).toEqual(['agents', 'quick', 'slow']);
    // The pools page counts the daemons the daemons list shows alive.
    const daemons = (await operator.GET('/v1/daemons')).data!.items;
    expect(pools.live_daemons).toBe(daemons.filter((d) => d.alive).length);
    const ready = (await operator.GET('/v1/machines', { params: { query: { pool: 'quick', state: 'ready' } } })).data!.items;
    const drained = await operator.POST('/v1/machines/{id}/drain', { params: { path: { id: ready[0]!.id } } });
    expect(drained.data?.state).toBe('draining');

    const admin = client(base, tokens.admin);
    const made = await admin.POST('/v1/tokens', { body: { name: 'openapi-made', role: 'submitter', expires_in_s: 3600 } });
    expect(made.response.status).toBe(201);
    expect(made.data?.token).toMatch(/^sf_/);
    expect((await admin.GET('/v1/tokens')).data?.items.map((k) => k.id)).toContain(made.data!.id);
    expect((await admin.POST('/v1/tokens/{id}/revoke', { params: { path: { id: made.data!.id } } })).data?.revoked_at).not.toBeNull();
    expect((await admin.POST('/v1/tokens', { body: { name: 'x', role: 'submitter', tenant: 'nobody' } })).error?.type).toMatch(/unknown-tenant$/);
  });

  it("drives an agent pool's lease with the machine's credential: 204 while none, lease, heartbeat, finish, then 409", async () => {
    const submitter = client(base, tokens.submitter);
    await until(async () => Number((await t.db.execute(sql`SELECT count(*)::int AS n FROM machines WHERE pool = 'agents' AND state = 'ready'`)).rows[0]?.n) === 1, 60_000);
    const machineId = String((await t.db.execute(sql`SELECT id FROM machines WHERE pool = 'agents' AND state = 'ready'`)).rows[0]?.id);
    const userData = String((await t.db.execute(sql`SELECT user_data FROM sim_cloud.instances WHERE client_token = ${machineId}`)).rows[0]?.user_data ?? '');
    const credential = /^SANDFLEET_MACHINE_TOKEN=(\S+)$/m.exec(userData)?.[1] ?? '';
    const agent = client(base, credential);
    expect((await agent.GET('/v1/agent/lease', { params: { query: { wait_s: 0 } } })).response.status).toBe(204);
    expect((await client(base, 'sfm_nonsense').GET('/v1/agent/lease', { params: { query: { wait_s: 0 } } })).response.status).toBe(401);

    const task = (await submitter.POST('/v1/tasks', { body: { pool: 'agents', payload: { sample: 'agent.exe' } } })).data!;
    const lease = await agent.GET('/v1/agent/lease', { params: { query: { wait_s: 10 } } });
    expect(lease.data?.task_id).toBe(task.id);
    // A leased machine is drained only after its task.
    const busy = await client(base, tokens.operator).POST('/v1/machines/{id}/drain', { params: { path: { id: machineId } } });
    expect(busy.error?.type).toMatch(/machine-busy$/);
    expect((await agent.POST('/v1/agent/leases/{id}/heartbeat', { params: { path: { id: task.id } } })).response.status).toBe(204);
    const finished = await agent.POST('/v1/agent/leases/{id}/finish', { params: { path: { id: task.id } }, body: { outcome: 'completed', result: { verdict: 'clean' } } });
    expect(finished.data).toEqual({ task_id: task.id, recorded: 'completed' });
    expect((await agent.POST('/v1/agent/leases/{id}/heartbeat', { params: { path: { id: task.id } } })).error?.type).toMatch(/lease-ended$/);
    await until(async () => (await submitter.GET('/v1/tasks/{id}', { params: { path: { id: task.id } } })).data?.state === 'completed', 60_000);
  });

  it('serves health, readiness, metrics and the document without a credential', async () => {
    const anonymous = client(base, null);
    expect((await anonymous.GET('/healthz')).data).toEqual({ status: 'ok' });
    expect((await anonymous.GET('/readyz')).data?.status).toBe('ready');
    expect((await anonymous.GET('/metrics', { parseAs: 'text' })).data).toContain('sandfleet_machines');
    expect((await anonymous.GET('/openapi.json')).data?.openapi).toBe('3.1.0');
  });

  it('answers 429 past the per-token budget, 503 not ready, and 503 with Retry-After when the database is busy', async () => {
    const namespace = `openapi${randomUUID().slice(0, 6)}`;
    const queues = {
      runs: createQueue<RunJob>(RUN_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
      machines: createQueue<MachineJob>(MACHINE_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
    };
    const starved = openDatabase({ url: t.url, max: 1, connectTimeoutMs: 200 });
    const servers: FastifyInstance[] = [];
    const serve = async (app: FastifyInstance) => {
      servers.push(app);
      return (await app.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
    };
    try {
      const limited = await serve(
        await buildApi({ db: t.db, queues, tokenRequestsPerMinute: 1, ready: () => Promise.resolve({ ok: false, checks: { shutdown: 'ok', database: 'ok', queue: 'timed out after 2 s' } }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) }),
      );
      const submitter = client(limited, tokens.submitter);
      expect((await submitter.GET('/v1/tasks')).response.status).toBe(200);
      const refused = await submitter.GET('/v1/tasks');
      expect([refused.response.status, refused.error?.type]).toEqual([429, 'https://sandfleet.dev/problems/rate-limited']);
      const unready = await client(limited, null).GET('/readyz');
      expect([unready.response.status, unready.error?.status]).toEqual([503, 'not ready']);

      const busy = await serve(await buildApi({ db: starved.db, queues, ready: () => Promise.resolve({ ok: true, checks: {} }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) }));
      const held = await starved.pool.connect();
      try {
        const answer = await client(busy, tokens.submitter).GET('/v1/tasks');
        expect([answer.response.status, answer.response.headers.get('retry-after')]).toEqual([503, '2']);
      } finally {
        held.release();
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await starved.close();
      await Promise.all([queues.runs.close(), queues.machines.close()]);
    }
  });

  it('saw every answer match the document, and a success of every operation and each documented refusal status', () => {
    expect(violations).toEqual([]);
    const operationIds = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((op) => (op as { operationId: string }).operationId));
    const succeeded = new Set([...seen].filter((s) => / 2\d\d$/.test(s)).map((s) => s.split(' ')[0]));
    expect(operationIds.filter((id) => !succeeded.has(id))).toEqual([]);
    const statuses = new Set([...seen].map((s) => Number(s.split(' ')[1])));
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 201, 204, 400, 401, 403, 404, 409, 413, 415, 422, 429, 503]));
    console.log(`openapi: ${seen.size} (operation, status) pairs checked against the document: ${[...seen].sort().join(', ')}`);
  });
});
