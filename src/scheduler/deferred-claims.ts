// Claims left for after a commit. A write that makes work claimable (a submission, a machine
// coming up, a requeue) claims in its own transaction when its pool's turn is free; when
// another transaction holds the turn it commits without waiting and asks here instead. Each
// pool has at most one such claim in flight per process, and requests that arrive meanwhile
// are folded into one more after it: under load a single claim serves many writes, and no
// writer holds a connection in the turn's queue. The reconciler's sweep claims for every pool
// anyway, so a request lost with its process (or a failed claim) is made up within one
// reconcile interval.
import type { Db } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import type { Lease } from '../machinery/index.js';
import { dispatch } from './dispatcher.js';
import type { JobSink, RunJob } from './queue.js';

interface Request {
  resolve: (leases: readonly Lease[]) => void;
  /** Leases of every claim that ended since the request: the one in flight when it came may have served it. */
  leases: Lease[];
}

interface Pending {
  pool: PoolRow;
  /** Requests made while a claim was in flight: served by the next one. */
  waiting: Request[];
}

export class DeferredClaims {
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly runs: JobSink<RunJob>,
    private readonly actor: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Claims for the pool after the caller's commit: now, or right after the claim in flight.
   * Resolves with the leases made by the claims that ended meanwhile (none if they failed).
   */
  request(pool: PoolRow): Promise<readonly Lease[]> {
    return new Promise((resolve) => {
      const request: Request = { resolve, leases: [] };
      const inFlight = this.pending.get(pool.name);
      if (inFlight) {
        inFlight.pool = pool;
        inFlight.waiting.push(request);
        return;
      }
      this.pending.set(pool.name, { pool, waiting: [request] });
      const run = this.claim(pool.name).finally(() => this.running.delete(run));
      this.running.add(run);
    });
  }

  /** Resolves when no claim is in flight (at shutdown). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async claim(name: string): Promise<void> {
    for (let next = this.pending.get(name); next && next.waiting.length > 0; next = this.pending.get(name)) {
      const served = next.waiting.splice(0);
      let leases: readonly Lease[] = [];
      try {
        leases = await dispatch(this.db, this.runs, next.pool, this.actor);
      } catch (error) {
        this.onError(error);
      }
      for (const request of [...served, ...next.waiting]) request.leases.push(...leases);
      for (const request of served) request.resolve(request.leases);
    }
    this.pending.delete(name);
  }
}
