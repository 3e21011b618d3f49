// Tasks, newest first, filtered by state and pool, a page at a time, with a cancel button on each
// task that has not ended. Every role sees this view: a submitter its own tenant's tasks.
import type { Api } from '../api.js';
import { itemsOf, listAll, withQuery } from '../lists.js';
import { isFinished, TASK_STATES, type Page, type Pool, type Task } from '../api-types.js';
import { shortId } from '../format.js';
import { href, type Route } from '../route.js';
import { useAction } from '../use-action.js';
import { usePoll } from '../use-poll.js';
import { Failure, isRefusal, Loading, NoticeLine, StateBadge, Time } from './common.js';
import { Filters } from './filters.js';

export function CancelButton({ api, task, run }: { api: Api; task: Task; run: ReturnType<typeof useAction>['run'] }) {
  if (isFinished(task.state)) return null;
  return (
    <button
      type="button"
      class="secondary outline compact"
      data-action="cancel"
      onClick={() =>
        void run(`Cancel task ${shortId(task.id)}?`, async () => {
          const after = await api.post<Task>(`/v1/tasks/${task.id}/cancel`);
          return `Task ${shortId(after.id)} is ${after.state}.`;
        })
      }
    >
      Cancel
    </button>
  );
}

/** Why a task waits, as the API says it (when it does); text as it came, anything else as JSON. */
export function waitingText(task: Task): string | null {
  if (task.waiting_reason === undefined || task.waiting_reason === null) return null;
  return typeof task.waiting_reason === 'string' ? task.waiting_reason : JSON.stringify(task.waiting_reason);
}

export function TasksView({ api, route, operator }: { api: Api; route: Route; operator: boolean }) {
  const state = route.params.get('state') ?? undefined;
  const pool = route.params.get('pool') ?? undefined;
  const cursor = route.params.get('cursor') ?? undefined;
  const path = withQuery('/v1/tasks', { state, pool, cursor });
  const tasks = usePoll(async (signal) => itemsOf(await api.get<Page<Task>>(path, signal)), path);
  // Submitters may not list pools: their pool filter offers the pools of the tasks they see.
  const pools = usePoll((signal) => (operator ? listAll<Pool>(api, '/v1/pools', signal).then((p) => p.items.map((x) => x.name)) : Promise.resolve(null)), `pool-names-${operator}`, 15_000);
  const { notice, run } = useAction(tasks.refresh);
  const now = Date.now();
  if (isRefusal(tasks.error)) return <Failure error={tasks.error} what="tasks" />;
  const poolChoices = pools.data ?? [...new Set([...(tasks.data?.items.map((t) => t.pool) ?? []), ...(pool ? [pool] : [])])].sort();
  const showWaiting = tasks.data?.items.some((t) => waitingText(t) !== null) ?? false;
  return (
    <section>
      <h2>Tasks</h2>
      <Filters section="tasks" values={{ state, pool }} choices={{ state: [...TASK_STATES], pool: poolChoices }} />
      <NoticeLine notice={notice} />
      {tasks.error ? <Failure error={tasks.error} what="tasks" /> : null}
      {!tasks.data ? (
        <Loading />
      ) : tasks.data.items.length === 0 ? (
        <p class="muted">No tasks{state || pool ? ' match' : ''}.</p>
      ) : (
        <div class="overflow-auto">
          <table class="striped" data-view="tasks">
            <thead>
              <tr>
                <th>Task</th>
                <th>State</th>
                <th>Pool</th>
                <th>Tenant</th>
                <th>Priority</th>
                <th>Attempts</th>
                <th>Submitted</th>
                <th>Started</th>
                <th>Finished</th>
                {showWaiting ? <th>Waiting because</th> : null}
                <th />
              </tr>
            </thead>
            <tbody>
              {tasks.data.items.map((t) => (
                <tr key={t.id} data-task-id={t.id}>
                  <th scope="row">
                    <a href={href('tasks', t.id)}>
                      <code>{shortId(t.id)}</code>
                    </a>
                  </th>
                  <td>
                    <StateBadge state={t.state} />
                  </td>
                  <td>{t.pool}</td>
                  <td>{t.tenant}</td>
                  <td>{t.priority}</td>
                  <td>
                    {t.attempts} / {t.max_attempts}
                  </td>
                  <td>
                    <Time at={t.created_at} now={now} />
                  </td>
                  <td>
                    <Time at={t.started_at} now={now} />
                  </td>
                  <td>
                    <Time at={t.finished_at} now={now} />
                  </td>
                  {showWaiting ? <td>{waitingText(t) ?? ''}</td> : null}
                  <td>
                    <CancelButton api={api} task={t} run={run} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pages">
        {cursor ? <a href={href('tasks', undefined, { state, pool })}>← Newest</a> : null}
        {tasks.data?.next ? <a href={href('tasks', undefined, { state, pool, cursor: tasks.data.next })}>Older →</a> : null}
      </nav>
    </section>
  );
}
