// Machines an agent last found unleased, and when. An idle agent's next long-poll skips the
// table while this process has heard no lease of its machine since the mark. One statement a
// minute re-marks every machine still idle, for the whole process, and forgets those that went
// away (their agents are then told on their next poll): idle agents cost no query each.
import type { Executor } from '../../db/database.js';
import { idleAgentMachines } from '../../machinery/index.js';
import { FORGET_AFTER_MS, type IdleMark, type LeaseNotices } from './lease-notices.js';

/** How often the marks are renewed from the table. */
const REFRESH_EVERY_MS = 60_000;
/** A mark older than this is not trusted (renewals failed): the agent's poll reads the table. Under FORGET_AFTER_MS. */
const TRUST_MS = Math.min(5 * REFRESH_EVERY_MS, FORGET_AFTER_MS / 2);

export class IdleMarks {
  private readonly marks = new Map<string, IdleMark>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Executor,
    private readonly notices: LeaseNotices,
    private readonly refreshEveryMs = REFRESH_EVERY_MS,
  ) {}

  /** True when the machine was found unleased and no lease of it can have been announced since. */
  quiet(machineId: string): boolean {
    const mark = this.marks.get(machineId);
    return mark !== undefined && performance.now() - mark.at < TRUST_MS && this.notices.quietSince(machineId, mark);
  }

  /** The machine was found unleased under `mark` (null: this process is not listening, so nothing is trusted). */
  found(machineId: string, mark: IdleMark | null): void {
    if (!mark) {
      this.marks.delete(machineId);
      return;
    }
    this.marks.set(machineId, mark);
    this.timer ??= this.closed ? undefined : setTimeout(() => void this.refresh(), this.refreshEveryMs).unref();
  }

  forget(machineId: string): void {
    this.marks.delete(machineId);
  }

  get size(): number {
    return this.marks.size;
  }

  /**
   * Renews every mark in one statement. The new mark is taken before the read: a lease claimed
   * after the read began is announced after it, so the renewed mark never hides it.
   */
  async refresh(): Promise<void> {
    this.timer = undefined;
    const mark = this.notices.mark();
    const ids = [...this.marks.keys()];
    try {
      const idle = mark && ids.length > 0 ? await idleAgentMachines(this.db, ids) : new Set<string>();
      for (const id of ids) {
        if (mark && idle.has(id)) this.marks.set(id, mark);
        else this.marks.delete(id);
      }
    } catch {
      // The marks age past TRUST_MS and agents read the table themselves until a renewal works.
    }
    if (this.marks.size > 0 && !this.closed) this.timer ??= setTimeout(() => void this.refresh(), this.refreshEveryMs).unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
