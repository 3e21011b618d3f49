// `sandfleet tasks submit|ls|show|cancel|wait`.
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_TENANT, PLATFORMS, TASK_STATES, type Platform, type TaskState } from '../../db/states.js';
import { findUnstorable } from '../../db/storable.js';
import { cancel, listTaskPage, operatorScopeAs, showTask, submitTask } from '../../scheduler/service/service.js';
import type { TaskView } from '../../scheduler/service/views.js';
import { withContext } from '../context.js';
import { emit, printTable } from '../output.js';
import { resolveTaskId } from '../../scheduler/service/id-prefix.js';
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

  tasks
    .command('ls')
    .description('list tasks, newest first')
    .option('--state <state>', TASK_STATES.join('|'), oneOf(TASK_STATES))
    .option('--pool <name>', 'only this pool')
    .option('--tenant <name>', 'only this tenant\'s tasks')
    .option('--limit <n>', 'page size (1-100, default 50)', integer(1, 100), 50)
    .option('--cursor <cursor>', 'the next_cursor of the previous page')
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((o: { state?: TaskState; pool?: string; tenant?: string; limit: number; cursor?: string; json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const page = await listTaskPage(service, { state: o.state, pool: o.pool, tenant: o.tenant, limit: o.limit, cursor: o.cursor });
        emit(o, page, () => {
          printTable(page.items as unknown as Record<string, unknown>[], COLUMNS);
          if (page.next_cursor) console.log(`more: --cursor ${page.next_cursor}`);
        });
      }),
    );

  tasks
    .command('show')
    .description('show one task')
    .argument('<id>', 'task id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const task = await showTask(service, await resolveTaskId(service, prefix));
        emit(o, task, () => printTask(task));
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
        for (;;) {
          const task = await showTask(service, id);
          const progress = `${task.state}${task.machine_id ? ` on ${task.machine_id}` : ''} (attempt ${task.attempts}/${task.max_attempts})`;
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

function printTask(task: TaskView): void {
  for (const [key, value] of Object.entries(task)) console.log(`${key.padEnd(13)} ${value === null ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
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
