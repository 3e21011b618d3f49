// Agents long-poll for their machine's lease. Every lease is announced on a PostgreSQL channel
// when its claim commits (claimLeases), and one LISTEN connection per process wakes the agent
// waiting for that machine: a waiting agent costs no query until its lease exists.
import type pg from 'pg';
import type { Database } from '../../db/database.js';
import { LEASE_CHANNEL } from '../../machinery/index.js';

/** Past this many remembered machines, those not heard of for FORGET_AFTER_MS are forgotten (delete pools never reuse an id). */
const MAX_REMEMBERED = 50_000;
/** Longer than any idle mark is trusted (IdleMarks), so a forgotten announcement can hide no lease. */
export const FORGET_AFTER_MS = 10 * 60_000;

/** Drops entries whose time is before `before`. */
function forgetOlderThan(map: Map<string, number>, before: number): void {
  for (const [key, at] of map) if (at < before) map.delete(key);
}

/** When a machine was last seen unleased (performance.now()), under which LISTEN connection. */
export interface IdleMark {
  epoch: number;
  at: number;
}

export class LeaseNotices {
  private client: Promise<pg.PoolClient> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Counts LISTEN connections: a mark taken under an earlier one may have missed a notice. */
  private epoch = 0;
  private listening = false;
  /** When each machine's lease was last announced. */
  private readonly heard = new Map<string, number>();
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

  /**
   * A mark to take just before reading the table finds a machine unleased: as long as this
   * process keeps listening and hears no lease of the machine, it is still unleased.
   */
  mark(): IdleMark | null {
    return this.listening ? { epoch: this.epoch, at: performance.now() } : null;
  }

  /** True when no lease of the machine can have been announced since `mark` without this process hearing it. */
  quietSince(machineId: string, mark: IdleMark): boolean {
    return this.listening && mark.epoch === this.epoch && (this.heard.get(machineId) ?? 0) < mark.at;
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
      this.heard.set(message.payload, performance.now());
      if (this.heard.size > MAX_REMEMBERED) forgetOlderThan(this.heard, performance.now() - FORGET_AFTER_MS);
      for (const wake of this.waiters.get(message.payload) ?? []) wake();
    });
    client.on('error', () => {
      // A lost LISTEN connection: waiters time out and poll again; the next wait reconnects, and
      // marks taken before are void (a notice may have been missed meanwhile).
      this.listening = false;
      this.client = undefined;
      client.release(true);
    });
    await client.query(`LISTEN ${LEASE_CHANNEL}`);
    this.epoch++;
    this.heard.clear();
    this.listening = true;
    if (this.closed) client.release(true);
    return client;
  }
}
