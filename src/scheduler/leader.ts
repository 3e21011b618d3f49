// Leader lease per pool: a Postgres session advisory lock held on one dedicated connection of
// the process's pool. When the holder dies, its connection closes and Postgres frees the lock,
// so another daemon's next try takes the lease over.
//
// Leases also expire. A connection can go silent without closing (packets dropped, a paused
// process), and meanwhile the server may free the locks and another daemon take them; this
// process must not go on believing it leads. So a lease counts only while the lock session has
// answered within `expireAfterMs`: a heartbeat confirms the session every third of that, each
// query bounded by a third too, and a session that fails or does not answer in time loses every
// lease and its connection is destroyed. The server mirrors it: the lock session sets
// idle_session_timeout to twice the bound, so a session that stops hearing from us ends, and
// frees its locks, only after this process has stopped believing it leads.
import type pg from 'pg';
import type { Database } from '../db/database.js';
import { leaderLockName } from '../machinery/daemons.js';

export interface LeaderLeaseOptions {
  /** A lease counts for this long after the lock session last answered. Default 10 s. */
  expireAfterMs?: number;
}

export class LeaderLeases {
  private client: pg.PoolClient | null = null;
  private connecting: Promise<pg.PoolClient> | null = null;
  private verifying: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly held = new Set<string>();
  /** When the last query the lock session answered was sent: the leases hold until then + expireAfterMs. */
  private confirmedAt = 0;
  private readonly expireAfterMs: number;

  constructor(
    private readonly database: Database,
    private readonly cluster: string,
    options: LeaderLeaseOptions = {},
  ) {
    this.expireAfterMs = options.expireAfterMs ?? 10_000;
  }

  /** How often the session is confirmed, and how long one query on it may take. */
  private get stepMs(): number {
    return Math.max(1, Math.floor(this.expireAfterMs / 3));
  }

  /** True when this process holds (or just took) the lease for `pool`. */
  async tryLead(pool: string): Promise<boolean> {
    // The heartbeat normally keeps the session confirmed; a starved one (a blocked event loop) is made up here.
    if (this.client && Date.now() - this.confirmedAt >= this.stepMs) await this.verify();
    if (this.leads(pool)) return true;
    const client = await this.connection();
    const [row] = await this.ask<{ ok: boolean }>(client, 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [leaderLockName(this.cluster, pool)]);
    if (row?.ok && this.client === client) this.held.add(pool);
    return this.leads(pool);
  }

  /** Whether this process leads `pool` now: it took the lease, and the lock session answered within the bound. */
  leads(pool: string): boolean {
    return this.held.has(pool) && Date.now() - this.confirmedAt < this.expireAfterMs;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.forget();
    if (!client) return;
    try {
      // Unlock explicitly: the next leader must not wait for the server to notice a closed socket.
      await bounded(client.query('SELECT pg_advisory_unlock_all()'), this.stepMs, 'leader lock connection: unlock');
    } catch {
      // A broken (or silent) connection: destroying it ends the session, and the server frees its locks.
    } finally {
      client.release(true);
    }
  }

  /** Confirms the lock session with a trivial query; a failure or no answer in time loses every lease. */
  private verify(): Promise<void> {
    const client = this.client;
    if (!client) return Promise.resolve();
    this.verifying ??= this.ask(client, 'SELECT 1', [])
      .then(
        () => {},
        () => {},
      )
      .finally(() => (this.verifying = null));
    return this.verifying;
  }

  /** One query on the lock session, bounded; it confirms the session, or drops it. */
  private async ask<Row extends pg.QueryResultRow>(client: pg.PoolClient, text: string, values: unknown[]): Promise<Row[]> {
    const sentAt = Date.now();
    try {
      const result = await bounded(client.query<Row>(text, values), this.stepMs, 'leader lock connection');
      if (this.client === client) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
      return result.rows;
    } catch (error) {
      this.drop(client);
      throw error;
    }
  }

  private async connection(): Promise<pg.PoolClient> {
    if (this.client) return this.client;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<pg.PoolClient> {
    const checkout = this.database.pool.connect();
    let client: pg.PoolClient;
    try {
      client = await bounded(checkout, this.stepMs, 'leader lock connection: connect');
    } catch (error) {
      // One that arrives late is of no use any more.
      checkout.then((late) => late.release(true), () => {});
      throw error;
    }
    // Losing the connection loses every lease: forget them, so nobody acts on a lease it lost.
    client.on('error', () => this.drop(client));
    client.on('end', () => this.drop(client));
    this.client = client;
    this.heartbeat = setInterval(() => void this.verify(), this.stepMs);
    this.heartbeat.unref();
    // A session that stops hearing from us (the heartbeat) ends on the server's side, freeing its locks.
    await this.ask(client, `SELECT set_config('idle_session_timeout', $1, false)`, [String(2 * this.expireAfterMs)]);
    return client;
  }

  /** Forgets every lease and destroys the connection they were held on (once). */
  private drop(client: pg.PoolClient): void {
    if (this.client !== client) return;
    this.forget();
    client.release(true);
  }

  private forget(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.client = null;
    this.held.clear();
    this.confirmedAt = 0;
  }
}

/** `work`, or a rejection once `ms` have passed without it settling (the work itself is not stopped). */
function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  // An abandoned query fails later, when its connection is destroyed; nobody is waiting for it then.
  work.catch(() => {});
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
