// Pool rows as this process last read them. Pools change only when a daemon syncs its config,
// so the hot path reads them from memory; every supervision tick re-reads the table (one query
// for all pools) and replaces the cache. A pool row is only ever read here, never written back.
import type { Executor } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import { getPool, listPools } from '../machinery/index.js';

export class PoolCache {
  private rows = new Map<string, PoolRow>();
  private listed = false;

  constructor(private readonly db: Executor) {}

  /** The pool's row; read from the table the first time. Throws when no such pool exists. */
  async get(name: string): Promise<PoolRow> {
    const cached = this.rows.get(name);
    if (cached) return cached;
    const row = await getPool(this.db, name);
    if (!row) throw new Error(`pool ${name} does not exist`);
    this.rows.set(name, row);
    return row;
  }

  /** Every pool; read from the table the first time. */
  async all(): Promise<PoolRow[]> {
    if (!this.listed) await this.refresh();
    return [...this.rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Re-reads every pool row. */
  async refresh(): Promise<PoolRow[]> {
    const rows = await listPools(this.db);
    this.rows = new Map(rows.map((r) => [r.name, r]));
    this.listed = true;
    return rows;
  }
}
