// What the scheduler tells its operator: structured lines carrying task, machine and pool ids
// (pino's Logger fits), and task timings for metrics. Both default to nothing.
import type { TaskRow } from '../db/schema.js';

export interface SchedulerLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export type TaskObservation = { kind: 'started'; task: TaskRow } | { kind: 'finished'; task: TaskRow; outcome: string };

export const SILENT: SchedulerLog = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * Logs a repeating message at most once per `everyMs` per key, with how many were held back:
 * a queue that fails every poll while the database is saturated must not flood the log.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly log: SchedulerLog,
    private readonly everyMs = 10_000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.clock();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.everyMs) {
      seen.held++;
      return;
    }
    this.log.warn(seen?.held ? { ...fields, repeats_held_back: seen.held } : fields, message);
    this.last.set(key, { at: now, held: 0 });
    if (this.last.size > 1000) this.last.clear();
  }
}
