// Events keyed by id (a job's processor start, a task's end) that a measurement waits for; an
// event that comes before its waiter (it can) is kept for it.
export class Arrivals {
  private readonly waiting = new Map<string, () => void>();
  private readonly early = new Set<string>();

  arrive(id: string): void {
    const resolve = this.waiting.get(id);
    if (resolve) resolve();
    else this.early.add(id);
  }

  /** Resolves when `id` has arrived; with `timeoutMs`, rejects if it has not by then. */
  wait(id: string, timeoutMs?: number): Promise<void> {
    if (this.early.delete(id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => reject(new Error(`${id} did not arrive within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve();
      });
    });
  }
}
