// Coalesces single-item calls into one batched cloud call (one DescribeInstances for many gets,
// one TerminateInstances for many deletes), up to maxBatch. Calls made within `windowMs` of the
// first one share a batch: machine jobs poll on timers of their own, so calls that arrive in
// the same tick are rare and a short window is what turns N pollers into one call.
export type BatchResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * The window adapters batch with: short beside a poll interval (1 s) and a boot, long enough
 * that polls of many machines share a call.
 */
export const BATCH_WINDOW_MS = 50;

export interface BatcherOptions {
  maxBatch: number;
  /** How long the first call of a batch waits for others; 0 batches only calls of the same tick. */
  windowMs?: number;
  /**
   * One batch in flight at a time: calls made meanwhile wait and go together as the next batch
   * (a scale set grows once for them all, instead of once per window in a queue).
   */
  serial?: boolean;
}

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Batcher<K, R> {
  /**
   * Keys waiting for a batch, in arrival order, each with every call waiting for it: a key asked
   * for again before it is sent (a caller that gave up and retried) shares the first call's
   * place and answer instead of queueing a second one.
   */
  private readonly pending = new Map<K, Waiter<R>[]>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private inFlight = 0;

  constructor(
    private readonly run: (keys: K[]) => Promise<Map<K, BatchResult<R>>>,
    private readonly options: BatcherOptions,
  ) {}

  call(key: K): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiting = this.pending.get(key);
      if (waiting) {
        waiting.push({ resolve, reject });
        return;
      }
      this.pending.set(key, [{ resolve, reject }]);
      if (this.pending.size >= this.options.maxBatch) this.flush();
      else if (!this.timer) {
        const window = this.options.windowMs ?? 0;
        this.timer = window > 0 ? setTimeout(() => this.flush(), window) : setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    while (this.pending.size && !(this.options.serial && this.inFlight > 0)) {
      const batch: [K, Waiter<R>[]][] = [];
      for (const entry of this.pending) {
        if (batch.length >= this.options.maxBatch) break;
        batch.push(entry);
      }
      for (const [key] of batch) this.pending.delete(key);
      const keys = batch.map(([key]) => key);
      this.inFlight++;
      const settled = () => {
        this.inFlight--;
        if (this.options.serial && this.pending.size) this.flush();
      };
      this.run(keys).finally(settled).then(
        (results) => {
          for (const [key, waiters] of batch) {
            const r = results.get(key);
            for (const w of waiters) {
              if (!r) w.reject(new Error('batched call returned no result for a key'));
              else if (r.ok) w.resolve(r.value);
              else w.reject(r.error);
            }
          }
        },
        (error: unknown) => {
          for (const [, waiters] of batch) for (const w of waiters) w.reject(error);
        },
      );
    }
  }
}
