// Watches every lease this process is running with one query per interval, however many there
// are: a lease whose machine is no longer leased to its task (canceled, past its deadline, the
// machine lost) has its runner aborted. No timer and no query while nothing runs.
import type { Executor } from '../db/database.js';
import { heldLeases } from '../machinery/index.js';

export class LeaseWatch {
  private readonly running = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Executor,
    private readonly everyMs: number,
    /** Errors of a check, which must not stop the watch (the next check tries again). */
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Watches the task's lease until the returned function is called; aborts `controller` if it ends. */
  watch(taskId: string, controller: AbortController): () => void {
    this.running.set(taskId, controller);
    this.timer ??= setInterval(() => void this.check(), this.everyMs);
    return () => {
      if (this.running.get(taskId) === controller) this.running.delete(taskId);
      if (this.running.size === 0) this.stop();
    };
  }

  /** How many leases are watched now. */
  get size(): number {
    return this.running.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    const ids = [...this.running.keys()];
    try {
      const held = await heldLeases(this.db, ids);
      for (const id of ids) {
        if (!held.has(id)) this.running.get(id)?.abort(new Error('lease ended: its machine is no longer leased to this task'));
      }
    } catch (error) {
      this.onError(error);
    }
  }
}
