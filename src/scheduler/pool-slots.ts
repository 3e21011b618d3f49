// The machine worker's slots per pool, in this process. A pool may hold every slot but one per
// other pool (up to half the slots), so another pool always finds one; a pool whose cloud calls
// are timing out holds at most a quarter of them for a while. Jobs waiting on a hung cloud
// therefore never take every slot from the pools whose clouds answer.

/** How long a pool counts as slow after one of its calls timed out. */
const SLOW_FOR_MS = 60_000;

export class PoolSlots {
  private readonly held = new Map<string, number>();
  private readonly slowUntil = new Map<string, number>();
  /** Slots a slow pool may hold: a quarter of the worker's, at least one. */
  readonly slowShare: number;

  constructor(private readonly slots: number) {
    this.slowShare = Math.max(1, Math.floor(slots / 4));
  }

  /** A call of the pool's got no answer in time. */
  markSlow(pool: string): void {
    this.slowUntil.set(pool, Date.now() + SLOW_FOR_MS);
  }

  /** Takes a slot unless the pool holds all it may; `pools` is how many pools there are. */
  tryTake(pool: string, pools: number): boolean {
    const held = this.heldBy(pool);
    if (held >= this.capOf(pool, pools)) return false;
    this.held.set(pool, held + 1);
    return true;
  }

  heldBy(pool: string): number {
    return this.held.get(pool) ?? 0;
  }

  private capOf(pool: string, pools: number): number {
    if ((this.slowUntil.get(pool) ?? 0) > Date.now()) return this.slowShare;
    return Math.max(1, this.slots - Math.min(pools - 1, Math.floor(this.slots / 2)));
  }

  give(pool: string): void {
    const held = (this.held.get(pool) ?? 1) - 1;
    if (held > 0) this.held.set(pool, held);
    else this.held.delete(pool);
  }
}
