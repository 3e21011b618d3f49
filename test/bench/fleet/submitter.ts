// Submissions over REST (POST /v1/tasks), spread over the daemons, each with its own
// Idempotency-Key and repeated under that key when no answer came (timeout, reset, 5xx), so
// "accepted" is exact. Paced at a rate (arrival i at t0 + i/rate, so a slow answer does not
// slow the rate down) or all at once for a burst.
import { randomUUID } from 'node:crypto';

export interface Submission {
  pool: string;
  payload: Record<string, unknown>;
}

const ANSWER_TIMEOUT_MS = 30_000;
const GIVE_UP_MS = 120_000;

export class RestSubmitter {
  accepted = 0;
  refused = 0;
  unanswered = 0;
  /** The first few refusals, for the report. */
  readonly problems: string[] = [];
  private next = 0;

  constructor(
    private readonly bases: readonly string[],
    private readonly token: string,
  ) {}

  /** `items` as fast as `inFlight` concurrent requests go. */
  async burst(items: readonly Submission[], inFlight = 100): Promise<void> {
    let i = 0;
    const lane = async () => {
      while (i < items.length) await this.submit(items[i++]!);
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, lane));
  }

  /**
   * Submits `make()` at `perSecond` until `limit` are sent or stop() is called. `done` resolves
   * with the number sent once every one of them has its answer; stop() ends it early.
   */
  paced(make: () => Submission, perSecond: number, options: { limit?: number; inFlight?: number } = {}): { done: Promise<number>; stop: () => Promise<number> } {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const inFlight = options.inFlight ?? 64;
    let running = true;
    let sent = 0;
    const pending = new Set<Promise<void>>();
    const done = (async () => {
      const started = performance.now();
      while (running && sent < limit) {
        const due = started + (sent * 1000) / perSecond;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 250)));
        if (!running) break;
        if (performance.now() < due) continue;
        if (pending.size >= inFlight) await Promise.race(pending);
        const p = this.submit(make()).finally(() => pending.delete(p));
        pending.add(p);
        sent++;
      }
      await Promise.all(pending);
      return sent;
    })();
    return {
      done,
      stop: () => {
        running = false;
        return done;
      },
    };
  }

  private async submit(item: Submission): Promise<void> {
    const key = randomUUID();
    const deadline = Date.now() + GIVE_UP_MS;
    while (Date.now() < deadline) {
      const base = this.bases[this.next++ % this.bases.length]!;
      try {
        const response = await fetch(`${base}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(item),
          signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
        });
        const text = await response.text();
        if (response.status === 200 || response.status === 201) {
          this.accepted++;
          return;
        }
        if (response.status < 500) {
          this.refused++;
          if (this.problems.length < 5) this.problems.push(`${response.status}: ${text.slice(0, 200)}`);
          return;
        }
      } catch {
        // no answer: ask again under the same key
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    this.unanswered++;
  }
}
