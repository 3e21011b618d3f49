// The daemon's background pruning (src/machinery/retention.ts does the deleting): once an
// interval, finished tasks past `retention.tasks_days` and then events past
// `retention.events_days`, in bounded batches; what went is logged.
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { errorMessage } from '../db/errors.js';
import { pruneEvents, pruneFinishedTasks } from '../machinery/index.js';
import { RETENTION_DEFAULTS as R } from '../scheduler/defaults.js';

export interface RetentionSettings {
  tasksDays: number;
  eventsDays: number;
}

/** One pass: batches of each kind until one comes back short or the pass's share is spent. */
export async function pruneOnce(db: Db, settings: RetentionSettings, batch: number = R.batch, maxBatches: number = R.maxBatches): Promise<{ tasks: number; events: number }> {
  const drain = async (step: () => Promise<number>) => {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await step();
      total += n;
      if (n < batch) break;
    }
    return total;
  };
  const tasks = await drain(() => pruneFinishedTasks(db, settings.tasksDays, batch));
  const events = await drain(() => pruneEvents(db, settings.eventsDays, batch));
  return { tasks, events };
}

/** Prunes every `everyMs` until stopped; a failed pass is logged and the next one tries again. */
export function startRetention(db: Db, settings: RetentionSettings, log: Logger, everyMs: number = R.everyMs): { stop: () => Promise<void> } {
  let pass: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    pass = pass.then(async () => {
      try {
        const pruned = await pruneOnce(db, settings);
        if (pruned.tasks + pruned.events > 0) log.info({ ...pruned, tasks_days: settings.tasksDays, events_days: settings.eventsDays }, 'retention: pruned finished tasks and old events');
      } catch (error) {
        log.warn({ err: errorMessage(error) }, 'retention pass failed (tried again next interval)');
      }
    });
  }, everyMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await pass;
    },
  };
}
