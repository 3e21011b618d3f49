// Coalesces single-item calls made in the same tick into one batched cloud call (one
// DescribeInstances for many gets, one TerminateInstances for many deletes), up to maxBatch.
export type BatchResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class Batcher<K, R> {
  private pending: { key: K; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (keys: K[]) => Promise<Map<K, BatchResult<R>>>,
    private readonly maxBatch: number,
  ) {}

  call(key: K): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      const keys = [...new Set(batch.map((b) => b.key))];
      this.run(keys).then(
        (results) => {
          for (const b of batch) {
            const r = results.get(b.key);
            if (!r) b.reject(new Error('batched call returned no result for a key'));
            else if (r.ok) b.resolve(r.value);
            else b.reject(r.error);
          }
        },
        (error: unknown) => {
          for (const b of batch) b.reject(error);
        },
      );
    }
  }
}
