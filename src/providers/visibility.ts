// Clouds are eventually consistent: an instance launched moments ago may not be visible yet.
// A NotFound inside the grace window after its birth is therefore Transient, not "gone" —
// unless the provider has already shown the instance, in which case missing means gone.
import { notFound, transient, type ProviderError } from './errors.js';
import type { LookupOptions } from './types.js';

export class LaunchLedger {
  /** Instances this process launched, and when. */
  private readonly launched = new Map<string, number>();
  /** Instances this process saw listed or described, or deleted: their NotFound is final, whatever their age. */
  private readonly settled = new Set<string>();

  constructor(private readonly graceMs: number) {}

  record(providerId: string, at = Date.now()): void {
    this.launched.set(providerId, at);
    if (this.launched.size > 10_000) this.prune();
  }

  /** The provider has shown this instance (or accepted its deletion): it is past the lag. */
  recordSeen(providerId: string): void {
    this.launched.delete(providerId);
    this.settled.add(providerId);
    if (this.settled.size > 50_000) this.settled.clear();
  }

  recordDeleted(providerId: string): void {
    this.recordSeen(providerId);
  }

  /** The error for an instance the provider says it does not have. */
  missing(providerId: string, options: LookupOptions, operation: string, code: string): ProviderError {
    if (this.settled.has(providerId)) return notFound(`instance ${providerId} is gone`, { operation, code });
    const born = Math.max(options.createdAt?.getTime() ?? 0, this.launched.get(providerId) ?? 0);
    if (born && Date.now() - born < this.graceMs) {
      return transient(`instance ${providerId} is not visible yet (eventual consistency)`, { operation, code });
    }
    return notFound(`instance ${providerId} does not exist`, { operation, code });
  }

  private prune(): void {
    const horizon = Date.now() - this.graceMs;
    for (const [id, at] of this.launched) if (at < horizon) this.launched.delete(id);
  }
}
