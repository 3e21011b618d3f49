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
