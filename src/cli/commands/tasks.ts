// `sandfleet tasks submit|ls|show|events|cancel|wait`.
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_TENANT, PLATFORMS, TASK_STATES, type Platform, type TaskState } from '../../db/states.js';
import { findUnstorable } from '../../db/storable.js';
import { liveDaemons } from '../../scheduler/service/daemons.js';
import { taskHistory } from '../../scheduler/service/history.js';
import { cancel, listTaskPage, operatorScopeAs, showTask, submitTask, type ServiceContext } from '../../scheduler/service/service.js';
import type { TaskView } from '../../scheduler/service/views.js';
import { withContext } from '../context.js';
import { emit, printTable } from '../output.js';
import { morePages, readPages, withPaging, type PagingOptions } from '../paging.js';
import { resolveTaskId } from '../../scheduler/service/id-prefix.js';
import { printEvents } from './history.js';
import { CommandFailed, idPrefix, integer, oneOf } from './arguments.js';

const TERMINAL = new Set(['completed', 'failed', 'timed_out', 'canceled']);
const COLUMNS = ['id', 'state', 'pool', 'tenant', 'priority', 'attempts', 'created_at', 'finished_at'];

interface SubmitOptions {
  pool?: string;
  platform?: Platform;
  tag: string[];
  payload: Record<string, unknown>;
  priority?: number;
  timeout?: number;
  maxAttempts?: number;
  idempotencyKey?: string;
  tenant: string;
  json?: boolean;
}

export function registerTasks(program: Command, config: () => string | undefined): void {
  const tasks = program.command('tasks').description('submit and follow tasks');

  tasks
    .command('submit')
    .description('submit a task (pick the pool by --pool, or by --platform/--tag)')
    .option('--pool <name>', 'the pool to run on')
    .option('--platform <platform>', `windows or linux`, oneOf(PLATFORMS))
    .option('--tag <tag>', 'a tag the pool must have (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--payload <json>', 'the task payload, a JSON object', jsonObject, {})
    .option('--priority <0-100>', 'higher runs first (default 50)', integer(0, 100))
    .option('--timeout <seconds>', 'the task timeout (default 3600)', integer(1, 86_400))
    .option('--max-attempts <n>', 'attempts when machines are lost (default 3)', integer(1, 10))
    .option('--idempotency-key <key>', 'resubmitting with the same key returns the same task')
    .option('--tenant <name>', 'whose task it is (default: default); the tenant\'s max_queued applies', DEFAULT_TENANT)
    .option('--json', 'print JSON')
    .action((o: SubmitOptions) =>
      withContext(config(), async ({ service }) => {
        const { task, created } = await submitTask(
          { ...service, scope: await operatorScopeAs(service.db, o.tenant) },
          { pool: o.pool, platform: o.platform, tags: o.tag, payload: o.payload, priority: o.priority, timeoutS: o.timeout, maxAttempts: o.maxAttempts },
          o.idempotencyKey,
        );
        emit(o, { ...task, created }, () => console.log(`${created ? 'submitted' : 'already submitted'} task ${task.id} to pool ${task.pool} (${task.state})`));
      }),
    );

  withPaging(
    tasks
      .command('ls')
      .description('list tasks, newest first')
      .option('--state <state>', TASK_STATES.join('|'), oneOf(TASK_STATES))
      .option('--pool <name>', 'only this pool')
      .option('--tenant <name>', 'only this tenant\'s tasks'),
  )
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((o: { state?: TaskState; pool?: string; tenant?: string; json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const page = await readPages(o, (p) => listTaskPage(service, { state: o.state, pool: o.pool, tenant: o.tenant, ...p }));
        emit(o, page, () => {
          printTable(page.items as unknown as Record<string, unknown>[], COLUMNS);
          morePages(page);
        });
      }),
    );

  tasks
    .command('show')
    .description('show one task, why it waits if it is queued, and its history')
    .argument('<id>', 'task id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON (the task with its latest 50 events)')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const id = await resolveTaskId(service, prefix);
        const task = await showTask(service, id);
        // The latest events, oldest first, as `machines show` gives a machine's.
        const events = (await taskHistory(service, id, { limit: HISTORY_SHOWN })).items.reverse();
        emit(o, { ...task, events }, () => {
          printTask(task);
          console.log('\nhistory:');
          printEvents(events);
        });
      }),
    );

  withPaging(tasks.command('events').description("a task's events, newest first").argument('<id>', 'task id, or its first 8 or more characters', idPrefix))
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((prefix: string, o: { json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const id = await resolveTaskId(service, prefix);
        const page = await readPages(o, (p) => taskHistory(service, id, p));
        emit(o, page, () => {
          printEvents(page.items);
          morePages(page);
        });
      }),
    );

  tasks
    .command('cancel')
    .description('cancel a task (a finished task is left as it is)')
    .argument('<id>', 'task id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const task = await cancel(service, await resolveTaskId(service, prefix));
        emit(o, task, () => console.log(`task ${task.id} is ${task.state}`));
      }),
    );

  tasks
    .command('wait')
    .description('wait until the task ends; exit 0 only if it completed')
    .argument('<id>', 'task id, or its first 8 or more characters', idPrefix)
    .option('--timeout <seconds>', 'give up after this long (default: wait forever)', integer(1, 7 * 86_400))
    .option('--json', 'print the final task as JSON')
    .action((prefix: string, o: { timeout?: number; json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const id = await resolveTaskId(service, prefix);
        const started = Date.now();
        let last = '';
        const daemons = new DaemonWatch();
        for (;;) {
          const task = await showTask(service, id);
          if (!TERMINAL.has(task.state)) await daemons.check(service);
          const progress = `${task.state}${task.waiting_reason ? ` (${task.waiting_reason})` : ''}${task.machine_id && task.state !== 'queued' ? ` on ${task.machine_id}` : ''} (attempt ${task.attempts}/${task.max_attempts})`;
          if (progress !== last && !o.json) process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${progress}\n`);
          last = progress;
          if (TERMINAL.has(task.state)) {
            emit(o, task, () => printTask(task));
            if (task.state !== 'completed') throw new CommandFailed(`task ${id} ended ${task.state}${task.error ? `: ${task.error}` : ''}`);
            return;
          }
          if (o.timeout !== undefined && Date.now() - started > o.timeout * 1000) throw new CommandFailed(`task ${id} is still ${task.state} after ${o.timeout}s`);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }),
    );
}

/** Events `tasks show` prints. */
const HISTORY_SHOWN = 50;

/**
 * Says on stderr, once each time it happens, that no daemon is alive: the task cannot move until
 * one starts, and `tasks wait` keeps waiting for it (a daemon started later picks the task up).
 */
class DaemonWatch {
  private warned = false;

  async check(service: ServiceContext): Promise<void> {
    const alive = (await liveDaemons(service)) > 0;
    if (!alive && !this.warned) process.stderr.write('no daemon is alive: the task cannot move until one starts (`sandfleet daemon`); still waiting\n');
    this.warned = !alive;
  }
}

function printTask(task: TaskView): void {
  for (const [key, value] of Object.entries(task)) console.log(`${key.padEnd(15)} ${value === null ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
}

function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object');
  const unstorable = findUnstorable(parsed);
  if (unstorable) throw new InvalidArgumentError(`payload.${unstorable.path.join('.')} ${unstorable.message}`);
  return parsed as Record<string, unknown>;
}
