// A runner does the task's work on its leased machine. It never touches the database: the
// worker turns its verdict into the task's outcome through src/machinery.
import type { MachineRow, TaskRow } from '../../db/schema.js';

/** The leased machine as a runner sees it: what to reach, by which name. */
export type LeasedMachine = Pick<MachineRow, 'id' | 'name' | 'ip'>;

export interface RunContext {
  task: TaskRow;
  machine: LeasedMachine;
  /** Aborted on cancel, on a lost lease, or when the task's timeout passes (not at shutdown: a draining daemon lets runs finish within its grace). */
  signal: AbortSignal;
}

export type RunVerdict =
  | { outcome: 'completed'; result: unknown }
  | { outcome: 'failed'; error: string }
  | { outcome: 'timed_out'; error: string };

export interface Runner {
  run(context: RunContext): Promise<RunVerdict>;
}

/** Resolves after `ms`, or early when the signal aborts (the caller checks which). */
export function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Why the run was cut short, as the verdict to record. */
export function abortedVerdict(signal: AbortSignal): RunVerdict {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return signal.reason instanceof TaskTimeout ? { outcome: 'timed_out', error: reason } : { outcome: 'failed', error: `aborted: ${reason}` };
}

export class TaskTimeout extends Error {
  override readonly name = 'TaskTimeout';
  constructor(seconds: number) {
    super(`task ran past its timeout of ${seconds}s`);
  }
}
