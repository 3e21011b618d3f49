// A cloud's own API budget, modelled: named token buckets (one per call class, as EC2 and Azure
// Resource Manager meter them) that a simulated cloud or an emulator spends from before it acts
// and refuses with its throttling error when empty. Kept in memory: it stands for the cloud's
// side of the meter, not for sandfleet's own rate limit (machinery/rate-buckets.ts).

export interface BucketLimit {
  /** Most tokens the bucket holds: the burst a quiet account may spend at once. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export type Spend = { ok: true; remaining: number } | { ok: false; retryAfterMs: number; remaining: number };

class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private limit: BucketLimit,
    private readonly now: () => number,
  ) {
    this.tokens = limit.burst;
    this.at = now();
  }

  /** Takes `cost` tokens if the bucket holds them; otherwise says how long until it will. */
  spend(cost: number): Spend {
    this.refill();
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return { ok: true, remaining: Math.floor(this.tokens) };
    }
    const wait = Math.min(cost, this.limit.burst) - this.tokens;
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil((wait / this.limit.perSecond) * 1000)), remaining: Math.floor(this.tokens) };
  }

  /** Gives back tokens a refused call took from another bucket of the same request. */
  refund(cost: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + cost);
  }

  /** A new limit from now on (an account squeezed or restored); the tokens held are capped by it. */
  resize(limit: BucketLimit): void {
    this.refill();
    this.limit = limit;
    this.tokens = Math.min(this.tokens, limit.burst);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.perSecond);
    this.at = now;
  }
}

function checkLimit(name: string, limit: BucketLimit): BucketLimit {
  if (!(limit.burst >= 1) || !(limit.perSecond > 0)) throw new RangeError(`budget ${name} needs burst >= 1 and perSecond > 0 (got ${JSON.stringify(limit)})`);
  return limit;
}

/**
 * A set of named buckets. A call spends from every bucket it is charged to (EC2's RunInstances
 * from its request bucket and, per instance, its resource bucket) or from none of them; a name
 * with no bucket is unmetered.
 */
export class Budget<Name extends string> {
  private readonly buckets = new Map<Name, TokenBucket>();
  /** Calls refused for want of budget, per bucket that refused them. */
  readonly refused = new Map<Name, number>();

  constructor(
    limits: Partial<Record<Name, BucketLimit>>,
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const [name, limit] of Object.entries(limits) as [Name, BucketLimit | undefined][]) {
      if (limit) this.buckets.set(name, new TokenBucket(checkLimit(name, limit), now));
    }
  }

  /** Spends `cost` from each named bucket, all or nothing; the refusal names the bucket that was short. */
  spend(charges: readonly (readonly [Name, number])[]): Spend & { bucket?: Name } {
    const taken: (readonly [TokenBucket, number])[] = [];
    let remaining = Infinity;
    for (const [name, cost] of charges) {
      const bucket = this.buckets.get(name);
      if (!bucket) continue;
      const spent = bucket.spend(cost);
      if (!spent.ok) {
        for (const [b, c] of taken) b.refund(c);
        this.refused.set(name, (this.refused.get(name) ?? 0) + 1);
        return { ...spent, bucket: name };
      }
      taken.push([bucket, cost]);
      remaining = Math.min(remaining, spent.remaining);
    }
    return { ok: true, remaining: Number.isFinite(remaining) ? remaining : 0 };
  }

  /** Changes some buckets' limits from now on (a bucket not metered so far starts full). */
  resize(limits: Partial<Record<Name, BucketLimit>>): void {
    for (const [name, limit] of Object.entries(limits) as [Name, BucketLimit | undefined][]) {
      if (!limit) continue;
      const bucket = this.buckets.get(name);
      if (bucket) bucket.resize(checkLimit(name, limit));
      else this.buckets.set(name, new TokenBucket(checkLimit(name, limit), this.now));
    }
  }

  /** Every refusal so far, summed over the buckets. */
  get refusals(): number {
    let n = 0;
    for (const count of this.refused.values()) n += count;
    return n;
  }
}
