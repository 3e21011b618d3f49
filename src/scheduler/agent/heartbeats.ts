// Agent heartbeats, batched: every beat that arrives within one interval is answered by one
// statement (touchHeartbeats), which also says which leases are still running. A quiet daemon
// runs no timer and no query.
import type { Executor } from '../../db/database.js';
import { touchHeartbeats } from '../../machinery/index.js';

interface Pending {
  taskId: string;
  machineId: string;
  answer: (live: boolean) => void;
  fail: (error: unknown) => void;
}

export class HeartbeatBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Executor,
    private readonly everyMs: number,
    /** A lease's heartbeat row is written at most this often. */
    private readonly refreshS: number,
  ) {}

  /** Resolves true while the lease is running on its machine, false once it has ended. */
  beat(taskId: string, machineId: string): Promise<boolean> {
    return new Promise((answer, fail) => {
      this.pending.push({ taskId, machineId, answer, fail });
      this.timer ??= setTimeout(() => void this.flush(), this.everyMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.timer = undefined;
    try {
      const live = await touchHeartbeats(this.db, batch, this.refreshS);
      for (const p of batch) p.answer(live.has(p.taskId));
    } catch (error) {
      for (const p of batch) p.fail(error);
    }
  }
}
