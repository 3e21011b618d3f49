// One task: its state and times, payload, verdict (result or error), why it waits when the API
// says, and its history when the API offers one.
import type { Api } from '../api.js';
import { isFinished, type StateEvent, type Task } from '../api-types.js';
import { json } from '../format.js';
import { eventsOf } from '../history.js';
import { href } from '../route.js';
import { useAction } from '../use-action.js';
import { usePoll } from '../use-poll.js';
import { Failure, isRefusal, Loading, NoticeLine, StateBadge, Time } from './common.js';
import { CancelButton, waitingText } from './tasks.js';
import { Timeline } from './timeline.js';

async function readTask(api: Api, id: string, signal: AbortSignal): Promise<{ task: Task; events: StateEvent[] | null }> {
  const [task, events] = await Promise.all([api.get<Task>(`/v1/tasks/${id}`, signal), eventsOf(api, 'tasks', id, signal)]);
  return { task, events };
}

export function TaskView({ api, id }: { api: Api; id: string }) {
  const { data, error, refresh } = usePoll((signal) => readTask(api, id, signal), id);
  const { notice, run } = useAction(refresh);
  const now = Date.now();
  if (isRefusal(error)) return <Failure error={error} what="this task" />;
  const task = data?.task;
  const waiting = task ? waitingText(task) : null;
  return (
    <section data-view="task">
      <p>
        <a href={href('tasks')}>← Tasks</a>
      </p>
      {error ? <Failure error={error} what="this task" /> : null}
      {!task ? (
        <Loading />
      ) : (
        <>
          <h2>
            Task <code>{task.id}</code> <StateBadge state={task.state} />
          </h2>
          <NoticeLine notice={notice} />
          <dl class="fields">
            <dt>Pool</dt>
            <dd>
              {task.pool}
              {task.platform ? ` (${task.platform})` : ''}
              {task.tags.length ? ` · ${task.tags.join(', ')}` : ''}
            </dd>
            <dt>Tenant</dt>
            <dd>{task.tenant}</dd>
            <dt>Priority, timeout</dt>
            <dd>
              {task.priority}, {task.timeout_s} s
            </dd>
            <dt>Attempts</dt>
            <dd>
              {task.attempts} of {task.max_attempts}
            </dd>
            <dt>Machine</dt>
            <dd>{task.machine_id ? <a href={href('machines', task.machine_id)}>{task.machine_id}</a> : '—'}</dd>
            <dt>Submitted, assigned, started, finished</dt>
            <dd>
              <Time at={task.created_at} now={now} />, <Time at={task.assigned_at} now={now} />, <Time at={task.started_at} now={now} />,{' '}
              <Time at={task.finished_at} now={now} />
            </dd>
            {waiting ? (
              <>
                <dt>Waiting because</dt>
                <dd data-field="waiting_reason">{waiting}</dd>
              </>
            ) : null}
          </dl>
          <CancelButton api={api} task={task} run={run} />
          {task.error ? (
            <>
              <h3>Error</h3>
              <pre class="error-text" data-field="error">{task.error}</pre>
            </>
          ) : null}
          {task.result !== null && task.result !== undefined ? (
            <>
              <h3>Result</h3>
              <pre data-field="result">{json(task.result)}</pre>
            </>
          ) : null}
          <h3>Payload</h3>
          <pre>{json(task.payload)}</pre>
          {data.events ? (
            <>
              <h3>History</h3>
              <Timeline events={data.events} now={now} ended={isFinished(task.state)} />
            </>
          ) : null}
        </>
      )}
    </section>
  );
}
