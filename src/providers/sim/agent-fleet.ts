// The agents that run on the sim cloud's instances, simulated: for every running instance that
// was handed an agent credential (its user data), one async loop does what a guest agent does,
// over the same REST API and nothing else: long-poll the machine's lease, "analyse" for the
// task's `sim.durationMs` (or the fleet's default), heartbeat meanwhile, report the verdict.
// One process drives any number of machines: no process, and no timer but the heartbeat, per task.
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
}

interface Credential {
  url: string;
  token: string;
}

const LONG_POLL_S = 30;

export class SimAgentFleet {
  readonly stats: SimAgentStats = { agents: 0, leases: 0, completed: 0, failed: 0, lost: 0, errors: 0 };
  private readonly running = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly random: () => number;
  private discovery: NodeJS.Timeout | undefined;

  constructor(private readonly options: SimAgentOptions) {
    this.random = prng(options.seed ?? 1);
  }

  start(): void {
    const discover = () => {
      void this.discover().finally(() => {
        if (!this.stopping.signal.aborted) this.discovery = setTimeout(discover, this.options.discoverEveryMs ?? 1000);
      });
    };
    discover();
  }

  async stop(): Promise<void> {
    clearTimeout(this.discovery);
    this.stopping.abort();
    await Promise.allSettled(this.running.values());
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
        const credential = parseUserData(String(row.user_data));
        if (this.running.has(id) || !credential) continue;
        this.stats.agents++;
        this.running.set(id, this.agent(credential).finally(() => this.running.delete(id)));
      }
    } catch {
      this.stats.errors++;
    }
  }

  /** One machine's agent, until its credential stops working (the machine is gone) or the fleet stops. */
  private async agent(credential: Credential): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const response = await this.call(credential, 'GET', `/v1/agent/lease?wait_s=${LONG_POLL_S}`);
      if (response === null) continue;
      if (response.status === 401) return;
      if (response.status !== 200) continue;
      const lease = JSON.parse(response.body) as { task_id: string; payload: Record<string, unknown> };
      this.stats.leases++;
      await this.work(credential, lease);
    }
  }

  private async work(credential: Credential, lease: { task_id: string; payload: Record<string, unknown> }): Promise<void> {
    const sim = (lease.payload.sim ?? {}) as { durationMs?: unknown; failRate?: unknown };
    const min = this.options.minDurationMs ?? 50;
    const max = this.options.maxDurationMs ?? 500;
    const duration = typeof sim.durationMs === 'number' ? sim.durationMs : Math.round(min + this.random() * Math.max(0, max - min));
    const fails = typeof sim.failRate === 'number' && this.random() < sim.failRate;
    const beats = setInterval(() => void this.call(credential, 'POST', `/v1/agent/leases/${lease.task_id}/heartbeat`), this.options.heartbeatMs ?? 10_000);
    try {
      await sleep(duration, this.stopping.signal);
    } finally {
      clearInterval(beats);
    }
    if (this.stopping.signal.aborted) return;
    const body = fails ? { outcome: 'failed', error: 'sim agent: simulated analysis failure' } : { outcome: 'completed', result: { agent: 'sim', durationMs: duration } };
    // A verdict is reported until the API answers it (an overloaded daemon's 5xx or a timeout
    // loses nothing): 200 recorded, 409 the lease ended meanwhile, 401 the machine is gone.
    let finished: { status: number } | null = null;
    while (!finished && !this.stopping.signal.aborted) finished = await this.call(credential, 'POST', `/v1/agent/leases/${lease.task_id}/finish`, body);
    if (finished?.status === 200) this.stats[fails ? 'failed' : 'completed']++;
    else if (finished?.status === 409) this.stats.lost++;
  }

  /** A call to the API, its body read; null (and a pause) when it could not be made or the server failed. */
  private async call(credential: Credential, method: string, path: string, body?: unknown): Promise<{ status: number; body: string } | null> {
    // Not AbortSignal.any with the fleet's long-lived signal: Node 20 keeps every such combined
    // signal referenced from it, and an agent makes a call every few seconds for hours.
    const call = new AbortController();
    const abort = () => call.abort();
    const timer = setTimeout(abort, (LONG_POLL_S + 30) * 1000);
    this.stopping.signal.addEventListener('abort', abort, { once: true });
    try {
      const response = await fetch(`${credential.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${credential.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: call.signal,
      });
      const text = await response.text();
      if (response.status < 500) return { status: response.status, body: text };
    } catch {
      if (this.stopping.signal.aborted) return null;
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', abort);
    }
    this.stats.errors++;
    await sleep(1000, this.stopping.signal);
    return null;
  }
}

/** The credential an instance was handed (see agentUserData): null when it has none. */
export function parseUserData(text: string): Credential | null {
  const values = Object.fromEntries(text.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  const url = values.SANDFLEET_URL;
  const token = values.SANDFLEET_MACHINE_TOKEN;
  return url && token ? { url, token } : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
