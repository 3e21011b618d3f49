// The agents that run on the sim cloud's instances, simulated: for every running instance that
// was handed an agent credential (its user data), one async loop does what a guest agent does,
// over the same REST API and nothing else: long-poll the machine's lease, "analyse" for the
// task's `sim.durationMs` (or the fleet's default), heartbeat meanwhile, report the verdict.
// One process drives any number of machines: no process, and no timer but the heartbeat, per task.
import http from 'node:http';
import { sql } from 'drizzle-orm';
import type { Executor } from '../../db/database.js';
import { prng } from '../prng.js';
import { simInstances as si } from './schema.js';

export interface SimAgentOptions {
  db: Executor;
  /** Only instances of these clusters / pools (default: all that carry an agent credential). */
  cluster?: string;
  pools?: readonly string[];
  /** A task's duration when its payload names none: uniform in [min, max]. */
  minDurationMs?: number;
  maxDurationMs?: number;
  /** Heartbeat period; keep it well under the pool's heartbeat timeout. */
  heartbeatMs?: number;
  /** How often new instances are looked for. */
  discoverEveryMs?: number;
  /** Only the instances of this shard (by a hash of the id), so several processes can share a fleet. */
  shard?: { index: number; count: number };
  seed?: number;
}

export interface SimAgentStats {
  agents: number;
  leases: number;
  completed: number;
  failed: number;
  /** Leases that ended before the agent finished (canceled, timed out): its finish was refused with 409. */
  lost: number;
  /** Calls that failed otherwise (the API down, a 5xx): retried after a pause. */
  errors: number;
  /** Those errors by kind: the HTTP status, or the error's code (ECONNRESET, TIMEOUT, …), or its name. */
  errorKinds: Record<string, number>;
}

interface Credential {
  url: string;
  token: string;
}

/** One agent's credential, and its calls that failed in a row (they set its back-off). */
interface Agent {
  credential: Credential;
  failures: number;
}

/** Back-off after a failed call: 1 s doubling to 30 s, jittered, so a daemon that fell behind is not met by a retry storm. */
const BACKOFF_MS = { first: 1000, max: 30_000 };

const LONG_POLL_S = 30;

export class SimAgentFleet {
  readonly stats: SimAgentStats = { agents: 0, leases: 0, completed: 0, failed: 0, lost: 0, errors: 0, errorKinds: {} };
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  /**
   * What stop() must cut short: pending pauses and calls. Sets, not listeners on an AbortSignal:
   * removing one of 10,000 listeners scans them all, on every call an agent makes.
   */
  private readonly wakers = new Set<() => void>();
  private readonly inflight = new Set<http.ClientRequest>();
  private readonly random: () => number;
  private discovery: NodeJS.Timeout | undefined;
  /** Sockets kept alive between an agent's calls, as many as the agents need. */
  private readonly http = new http.Agent({ keepAlive: true, maxFreeSockets: 65_536 });

  constructor(private readonly options: SimAgentOptions) {
    this.random = prng(options.seed ?? 1);
  }

  start(): void {
    const discover = () => {
      void this.discover().finally(() => {
        if (!this.stopped) this.discovery = setTimeout(discover, this.options.discoverEveryMs ?? 1000);
      });
    };
    discover();
  }

  async stop(): Promise<void> {
    clearTimeout(this.discovery);
    this.stopped = true;
    for (const wake of this.wakers) wake();
    for (const req of this.inflight) req.destroy(new Error('stopped'));
    await Promise.allSettled(this.running.values());
    this.http.destroy();
  }

  /** Starts an agent on every running instance that has a credential and none yet. */
  private async discover(): Promise<void> {
    const o = this.options;
    try {
      const rows = await o.db.execute(sql`
        SELECT ${si.id} AS id, ${si.userData} AS user_data FROM ${si}
        WHERE ${si.userData} IS NOT NULL AND ${si.phase} IN ('launched', 'reimaging') AND ${si.settlesAt} <= now()
          AND (${si.diesAt} IS NULL OR ${si.diesAt} > now())
          AND ${o.cluster === undefined ? sql`true` : sql`${si.cluster} = ${o.cluster}`}
          AND ${o.pools === undefined ? sql`true` : sql`${si.pool} = ANY(${sql.param([...o.pools])}::text[])`}`);
      for (const row of rows.rows) {
        const id = String(row.id);
        if (this.running.has(id) || !this.inShard(id)) continue;
        const credential = parseUserData(String(row.user_data));
        if (!credential) continue;
        this.stats.agents++;
        this.running.set(id, this.agent({ credential, failures: 0 }).finally(() => this.running.delete(id)));
      }
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(what: unknown): void {
    this.stats.errors++;
    const kind = typeof what === 'number' ? String(what) : errorKind(what);
    this.stats.errorKinds[kind] = (this.stats.errorKinds[kind] ?? 0) + 1;
  }

  private inShard(id: string): boolean {
    const shard = this.options.shard;
    if (!shard || shard.count <= 1) return true;
    let hash = 0;
    for (let i = 0; i < id.length; i++) hash = (Math.imul(hash, 31) + id.charCodeAt(i)) >>> 0;
    return hash % shard.count === shard.index;
  }

  /** One machine's agent, until its credential stops working (the machine is gone) or the fleet stops. */
  private async agent(agent: Agent): Promise<void> {
    while (!this.stopped) {
      const response = await this.call(agent, 'GET', `/v1/agent/lease?wait_s=${LONG_POLL_S}`);
      if (response === null) continue;
      if (response.status === 401) return;
      if (response.status !== 200) continue;
      const lease = JSON.parse(response.body) as { task_id: string; payload: Record<string, unknown> };
      this.stats.leases++;
      await this.work(agent, lease);
    }
  }

  private async work(agent: Agent, lease: { task_id: string; payload: Record<string, unknown> }): Promise<void> {
    const sim = (lease.payload.sim ?? {}) as { durationMs?: unknown; failRate?: unknown };
    const min = this.options.minDurationMs ?? 50;
    const max = this.options.maxDurationMs ?? 500;
    const duration = typeof sim.durationMs === 'number' ? sim.durationMs : Math.round(min + this.random() * Math.max(0, max - min));
    const fails = typeof sim.failRate === 'number' && this.random() < sim.failRate;
    const beats = setInterval(() => void this.call(agent, 'POST', `/v1/agent/leases/${lease.task_id}/heartbeat`), this.options.heartbeatMs ?? 10_000);
    try {
      await this.pause(duration);
    } finally {
      clearInterval(beats);
    }
    if (this.stopped) return;
    const body = fails ? { outcome: 'failed', error: 'sim agent: simulated analysis failure' } : { outcome: 'completed', result: { agent: 'sim', durationMs: duration } };
    // A verdict is reported until the API answers it (an overloaded daemon's 5xx or a timeout
    // loses nothing): 200 recorded, 409 the lease ended meanwhile, 401 the machine is gone.
    let finished: { status: number } | null = null;
    while (!finished && !this.stopped) finished = await this.call(agent, 'POST', `/v1/agent/leases/${lease.task_id}/finish`, body);
    if (finished?.status === 200) this.stats[fails ? 'failed' : 'completed']++;
    else if (finished?.status === 409) this.stats.lost++;
  }

  /** A call to the API, its body read; null (after a back-off) when it could not be made or the server failed. */
  private async call(agent: Agent, method: string, path: string, body?: unknown): Promise<{ status: number; body: string } | null> {
    try {
      const response = await request(this.http, this.inflight, agent.credential, method, path, body, (LONG_POLL_S + 30) * 1000);
      if (response.status < 500) {
        agent.failures = 0;
        return response;
      }
      this.failed(response.status);
    } catch (error) {
      if (this.stopped) return null;
      this.failed(error);
    }
    agent.failures++;
    const backoff = Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** Math.min(agent.failures - 1, 10));
    await this.pause(backoff * (0.5 + this.random() / 2));
    return null;
  }

  /** Resolves after `ms`, or at stop(). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const timer = setTimeout(wake, ms);
      const wakers = this.wakers;
      wakers.add(wake);
      function wake() {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      }
    });
  }
}

/**
 * One HTTP request over `agent`'s kept-alive sockets. node:http, not fetch: at 10,000 agents
 * fetch cost the simulator most of a core for 333 idle long-polls a second.
 */
function request(agent: http.Agent, inflight: Set<http.ClientRequest>, credential: Credential, method: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const url = new URL(path, credential.url);
  if (url.protocol !== 'http:') return Promise.reject(Object.assign(new Error(`sim agents speak plain HTTP to the daemon, not ${url.protocol}`), { code: 'UNSUPPORTED_PROTOCOL' }));
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      agent,
      timeout: timeoutMs,
      headers: { authorization: `Bearer ${credential.token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
    });
    inflight.add(req);
    req.once('close', () => inflight.delete(req));
    req.once('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
    req.end(payload);
  });
}

/** The credential an instance was handed (see agentUserData): null when it has none. */
export function parseUserData(text: string): Credential | null {
  const values = Object.fromEntries(text.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const url = values.SANDFLEET_URL;
  const token = values.SANDFLEET_MACHINE_TOKEN;
  return url && token ? { url, token } : null;
}

function errorKind(error: unknown): string {
  if (error instanceof Error) return (error as Error & { code?: string }).code ?? error.name;
  return typeof error;
}
