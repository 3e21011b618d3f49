// The agent runner end to end over real HTTP: a shell agent with curl runs a task from its
// machine's user data; a silent agent's lease ends and its task is requeued; a finish after the
// lease ended is 409; a wrong or expired credential is 401 and counted; refused calls write nothing.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { SimAgentFleet } from '../../src/providers/sim/agent-fleet.js';
import { createLogger } from '../../src/daemon/logger.js';
import { useTestDatabase } from '../support/database.js';
import { installStatementCounter, resetCounts, topStatements } from '../support/statement-counter.js';
import { until } from '../support/until.js';
import { ROOT } from './process.js';

const t = useTestDatabase('agent', 8);
let daemon: RunningDaemon;
let base = '';
let submitter = '';
const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-agent-'));

const CONFIG = `
cluster: agent-test
api: { host: 127.0.0.1, port: 0 }
scheduler: { supervise_every_ms: 200, shutdown_grace_s: 1 }
pools:
  - name: agents
    provider: sim
    min_ready: 2
    max_size: 2
    recycle: reimage
    idle_timeout_s: 3600
    settings: { bootDelayMs: 50, stopDelayMs: 20, terminateDelayMs: 20 }
    runner: { kind: agent, heartbeat_timeout_s: 15 }
`;

beforeAll(async () => {
  const config = parseConfig(CONFIG, 'agent-test.yaml', { DATABASE_URL: t.url });
  daemon = await startDaemon(config, createLogger('silent', { cluster: 'agent-test' }));
  base = `http://127.0.0.1:${daemon.port}`;
  const { createToken } = await import('../../src/scheduler/service/tokens.js');
  submitter = (await createToken(t.db, { name: 'agent-test', role: 'submitter' })).token;
  await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE state = 'ready'`)) === 2, 30_000);
});
afterAll(async () => {
  await daemon?.stop();
});

async function count(query: ReturnType<typeof sql>): Promise<number> {
  return Number((await t.db.execute(query)).rows[0]?.n);
}

async function submit(payload: object, maxAttempts = 3): Promise<{ id: string; state: string; machine_id: string | null }> {
  const response = await fetch(`${base}/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' }, body: JSON.stringify({ pool: 'agents', payload, max_attempts: maxAttempts }) });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; state: string; machine_id: string | null };
}

const task = async (id: string) => (await t.db.execute(sql`SELECT state, attempts, result, error, machine_id, started_at FROM tasks WHERE id = ${id}`)).rows[0] as { state: string; attempts: number; result: unknown; error: string | null; machine_id: string; started_at: Date | null };

/** What the sim cloud handed the machine's instance at create, as cloud-init would leave it. */
async function userData(machineId: string): Promise<Record<string, string>> {
  const r = await t.db.execute(sql`SELECT user_data FROM sim_cloud.instances WHERE client_token = ${machineId}`);
  const text = String(r.rows[0]?.user_data ?? '');
  return Object.fromEntries(text.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
}

function agentCall(method: string, url: string, credential: string, body?: unknown) {
  return fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${credential}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

installStatementCounter();
/** The agent endpoint's read of a machine and its lease, since the counter was reset. */
const leaseReads = () => topStatements(100).filter(([text]) => text.includes('row_to_json(m) AS machine')).reduce((n, [, calls]) => n + calls, 0);

const taskWrites = (id: string) => count(sql`SELECT (SELECT count(*) FROM events WHERE entity_id = ${id}) + (SELECT version FROM tasks WHERE id = ${id}) AS n`);
const writes = () => count(sql`SELECT (SELECT count(*) FROM events) + (SELECT coalesce(sum(version), 0) FROM tasks) + (SELECT coalesce(sum(version), 0) FROM machines) AS n`);

describe('agent runner', () => {
  it('a shell agent with curl runs its machine\'s lease from the user data, and the machine is reimaged back to ready', async () => {
    const submitted = await submit({ sample: 'curl.exe' });
    expect(submitted.state).toBe('assigned');
    const data = await userData(submitted.machine_id!);
    expect(data.SANDFLEET_MACHINE_TOKEN).toMatch(/^sfm_/);
    expect(data.SANDFLEET_URL).toBe(base);
    const file = path.join(dir, `user-data-${randomUUID()}`);
    writeFileSync(file, Object.entries(data).map(([k, v]) => `${k}=${v}`).join('\n'));
    const agent = spawn('sh', [path.join(ROOT, 'examples/curl-agent.sh')], { env: { PATH: process.env.PATH ?? '', SANDFLEET_USER_DATA: file, ONCE: '1', ANALYSE: 'sed s/.*/{"verdict":"clean"}/' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => agent.on('exit', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await until(async () => (await task(submitted.id)).state === 'completed', 30_000);
    expect((await task(submitted.id)).result).toEqual({ verdict: 'clean' });
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE id = ${submitted.machine_id} AND state = 'ready' AND uses = 1`)) === 1, 30_000);
  });

  it('refuses a wrong, a forged and an expired credential with 401, writes nothing, and counts them', async () => {
    const before = await writes();
    const forged = `sfm_${randomUUID()}.${'A'.repeat(43)}`;
    const expired = await daemon.scheduler.credentials.issue(randomUUID());
    for (const credential of ['nonsense', forged, expired]) {
      expect((await agentCall('GET', '/v1/agent/lease?wait_s=0', credential)).status).toBe(401);
      expect((await agentCall('POST', `/v1/agent/leases/${randomUUID()}/finish`, credential, { outcome: 'completed', result: {} })).status).toBe(401);
    }
    expect((await fetch(`${base}/v1/agent/lease?wait_s=0`)).status).toBe(401);
    expect(await writes()).toBe(before);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/sandfleet_agent_credentials_refused_total\{reason="invalid"\} 4/);
    expect(metrics).toMatch(/sandfleet_agent_credentials_refused_total\{reason="expired"\} 2/);
    expect(metrics).toMatch(/sandfleet_agent_credentials_refused_total\{reason="missing"\} 1/);
    // The OpenAPI document describes the agent endpoints and the credential they take.
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as any;
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/agent/lease', '/v1/agent/leases/{id}/heartbeat', '/v1/agent/leases/{id}/finish']));
    expect(openapi.paths['/v1/agent/lease'].get.security).toEqual([{ machine: [] }]);
    expect(openapi.components.securitySchemes.machine).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('an idle agent polling again costs no query while no lease of its machine is announced, and a lease wakes it at once', async () => {
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE state = 'ready'`)) === 2, 30_000);
    const machines = (await t.db.execute(sql`SELECT id FROM machines WHERE state = 'ready' ORDER BY id`)).rows.map((r) => String(r.id));
    const credentials = await Promise.all(machines.map(async (id) => (await userData(id)).SANDFLEET_MACHINE_TOKEN!));
    // Two polls each: the first may find the lease channel not yet listened to; the second leaves a mark.
    for (let i = 0; i < 2; i++) for (const c of credentials) expect((await agentCall('GET', '/v1/agent/lease?wait_s=0', c)).status).toBe(204);
    resetCounts();
    for (let i = 0; i < 3; i++) for (const c of credentials) expect((await agentCall('GET', '/v1/agent/lease?wait_s=0', c)).status).toBe(204);
    expect(leaseReads()).toBe(0);
    // Shorter than the heartbeat timeout: the woken agent must not go quiet while the other waits out.
    const waiting = credentials.map((c) => agentCall('GET', '/v1/agent/lease?wait_s=5', c));
    const submitted = await submit({ sample: 'wake.exe' });
    const answers = await Promise.all(waiting.map(async (w) => (await w).status));
    expect(answers.filter((a) => a === 200)).toHaveLength(1);
    // The woken agent read its lease once; the other's wait ran out without a read.
    expect(leaseReads()).toBe(1);
    const winner = credentials[answers.indexOf(200)]!;
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/finish`, winner, { outcome: 'completed', result: { woke: true } })).status).toBe(200);
  });

  it('answers 409 to a finish after the lease ended and changes nothing; 413 to a result over 64 KiB', async () => {
    const submitted = await submit({ sample: 'late.exe' });
    const credential = (await userData(submitted.machine_id!)).SANDFLEET_MACHINE_TOKEN!;
    const lease = await agentCall('GET', '/v1/agent/lease?wait_s=5', credential);
    expect(lease.status).toBe(200);
    expect(((await lease.json()) as { task_id: string }).task_id).toBe(submitted.id);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/finish`, credential, { outcome: 'completed', result: { big: 'x'.repeat(70_000) } })).status).toBe(413);
    const canceled = await fetch(`${base}/v1/tasks/${submitted.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${submitter}` } });
    expect(canceled.status).toBe(200);
    const before = await taskWrites(submitted.id);
    const late = await agentCall('POST', `/v1/agent/leases/${submitted.id}/finish`, credential, { outcome: 'completed', result: { verdict: 'late' } });
    expect(late.status).toBe(409);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/heartbeat`, credential)).status).toBe(409);
    // The machine's own teardown goes on meanwhile; the task is not touched again.
    expect(await taskWrites(submitted.id)).toBe(before);
    expect(await task(submitted.id)).toMatchObject({ state: 'canceled', result: null });
  });

  it('ends a lease whose agent stops beating and requeues its task while attempts remain', async () => {
    await until(async () => (await count(sql`SELECT count(*)::int AS n FROM machines WHERE state = 'ready'`)) === 2, 30_000);
    const submitted = await submit({ sample: 'silent.exe' });
    const credential = (await userData(submitted.machine_id!)).SANDFLEET_MACHINE_TOKEN!;
    expect((await agentCall('GET', '/v1/agent/lease?wait_s=5', credential)).status).toBe(200);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/heartbeat`, credential)).status).toBe(204);
    // Silence past the pool's heartbeat timeout (15 s): the lease ends like a lost machine.
    await until(async () => (await task(submitted.id)).attempts === 2, 60_000);
    expect(await task(submitted.id)).toMatchObject({ error: expect.stringMatching(/no heartbeat from its agent for 15s/) });
    const events = await t.db.execute(sql`SELECT to_state FROM events WHERE entity_id = ${submitted.id} ORDER BY id`);
    expect(events.rows.map((e) => e.to_state).slice(0, 4)).toEqual(['queued', 'assigned', 'running', 'queued']);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/heartbeat`, credential)).status).toBe(409);
    // The next attempt's liveness counts from its own lease, not from the silent one's last beat
    // (15 s old by now): its agent starts it, beats and finishes it.
    const retry = await task(submitted.id);
    expect(retry).toMatchObject({ state: 'assigned', started_at: null });
    const next = (await userData(retry.machine_id)).SANDFLEET_MACHINE_TOKEN!;
    expect((await agentCall('GET', '/v1/agent/lease?wait_s=5', next)).status).toBe(200);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/heartbeat`, next)).status).toBe(204);
    expect((await agentCall('POST', `/v1/agent/leases/${submitted.id}/finish`, next, { outcome: 'completed', result: { retried: true } })).status).toBe(200);
    await until(async () => (await task(submitted.id)).state === 'completed', 30_000);
    expect(await task(submitted.id)).toMatchObject({ attempts: 2, result: { retried: true } });
  });

  it('simulated agents (one loop per machine, in two processes\' shards) run a batch through the same API', async () => {
    // Two fleets, as two `sim-agents --shard i/2` processes: every machine is driven by exactly one.
    const fleets = [0, 1].map((index) => new SimAgentFleet({ db: t.db, cluster: 'agent-test', heartbeatMs: 200, discoverEveryMs: 100, minDurationMs: 10, maxDurationMs: 300, shard: { index, count: 2 } }));
    for (const fleet of fleets) fleet.start();
    const total = (key: 'agents' | 'completed' | 'failed' | 'lost') => fleets.reduce((n, f) => n + f.stats[key], 0);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await submit({ sim: { failRate: i % 5 === 0 ? 1 : 0 } })).id);
      const ended = () => count(sql`SELECT count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(ids)}::uuid[]) AND state IN ('completed', 'failed')`);
      await until(async () => (await ended()) === 20, 60_000);
      const states = await t.db.execute(sql`SELECT state, count(*)::int AS n FROM tasks WHERE id = ANY(${sql.param(ids)}::uuid[]) GROUP BY state ORDER BY state`);
      expect(states.rows).toEqual([{ state: 'completed', n: 16 }, { state: 'failed', n: 4 }]);
      // The silent agent's requeued task (above) may be among the leases the fleets ran.
      expect({ failed: total('failed'), lost: total('lost') }).toEqual({ failed: 4, lost: 0 });
      expect(total('completed')).toBeGreaterThanOrEqual(16);
      expect(total('agents')).toBe(2);
    } finally {
      await Promise.all(fleets.map((f) => f.stop()));
    }
  });
});
