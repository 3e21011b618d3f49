// Agents long-poll for their machine's lease. Every lease is announced on a PostgreSQL channel
// when its claim commits (claimLeases), and one LISTEN connection per process wakes the agent
// waiting for that machine: a waiting agent costs no query until its lease exists.
import type pg from 'pg';
import type { Database } from '../../db/database.js';
import { LEASE_CHANNEL } from '../../machinery/index.js';

export class LeaseNotices {
  private client: Promise<pg.PoolClient> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private readonly database: Database) {}

  /**
   * Resolves true when a lease of the machine is announced, false after `waitMs`. Call it before
   * looking at the table, so an announcement between the look and the wait is not missed.
   */
  waitFor(machineId: string, waitMs: number): { done: Promise<boolean>; cancel: () => void } {
    let wake: () => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<boolean>((resolve) => {
      wake = () => finish(true);
      timer = setTimeout(() => finish(false), waitMs);
      const finish = (heard: boolean) => {
        clearTimeout(timer);
        this.waiters.get(machineId)?.delete(wake);
        if (this.waiters.get(machineId)?.size === 0) this.waiters.delete(machineId);
        resolve(heard);
      };
    });
    const set = this.waiters.get(machineId) ?? new Set();
    set.add(wake);
    this.waiters.set(machineId, set);
    void this.listen();
    return { done, cancel: () => wake() };
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    for (const set of this.waiters.values()) for (const wake of set) wake();
    if (client) (await client.catch(() => null))?.release(true);
  }

  private listen(): Promise<pg.PoolClient> {
    this.client ??= this.connect().catch((error: unknown) => {
      this.client = undefined;
      throw error;
    });
    return this.client.catch(() => undefined as never);
  }

  private async connect(): Promise<pg.PoolClient> {
    const client = await this.database.pool.connect();
    client.on('notification', (message) => {
      if (message.channel !== LEASE_CHANNEL || !message.payload) return;
      for (const wake of this.waiters.get(message.payload) ?? []) wake();
    });
    client.on('error', () => {
      // A lost LISTEN connection: waiters time out and poll again; the next wait reconnects.
      this.client = undefined;
      client.release(true);
    });
    await client.query(`LISTEN ${LEASE_CHANNEL}`);
    if (this.closed) client.release(true);
    return client;
  }
}
