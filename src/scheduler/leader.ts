// Leader lease per pool: a Postgres session advisory lock held on one dedicated connection of
// the process's pool. When the holder dies, its connection closes and Postgres frees the lock,
// so another daemon's next try takes the lease over.
import type pg from 'pg';
import type { Database } from '../db/database.js';

export class LeaderLeases {
  private client: pg.PoolClient | null = null;
  private readonly held = new Set<string>();

  constructor(
    private readonly database: Database,
    private readonly cluster: string,
  ) {}

  /** True when this process holds (or just took) the lease for `pool`. */
  async tryLead(pool: string): Promise<boolean> {
    if (this.held.has(pool)) return true;
    const client = await this.connection();
    const result = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [`sandfleet:${this.cluster}:${pool}`]);
    if (result.rows[0]?.ok) this.held.add(pool);
    return this.held.has(pool);
  }

  leads(pool: string): boolean {
    return this.held.has(pool);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.held.clear();
    if (!client) return;
    try {
      // Unlock explicitly: the next leader must not wait for the server to notice a closed socket.
      await client.query('SELECT pg_advisory_unlock_all()');
    } catch {
      // A broken connection holds no locks any more.
    } finally {
      client.release(true);
    }
  }

  private async connection(): Promise<pg.PoolClient> {
    if (this.client) return this.client;
    const client = await this.database.pool.connect();
    // Losing the connection loses every lease: forget them, so nobody acts on a lease it lost.
    client.on('error', () => {
      this.held.clear();
      if (this.client === client) this.client = null;
      client.release(true);
    });
    this.client = client;
    return client;
  }
}
