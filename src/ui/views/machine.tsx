// One machine: what it is now, and its state timeline. A machine already deleted shows only its
// history, where the API keeps it.
import { ApiError, type Api } from '../api.js';
import type { MachineDetail, StateEvent } from '../api-types.js';
import { eventsOf } from '../history.js';
import { href } from '../route.js';
import { useAction } from '../use-action.js';
import { usePoll } from '../use-poll.js';
import { Failure, isRefusal, Loading, NoticeLine, StateBadge, Time } from './common.js';
import { DrainButton } from './machines.js';
import { Timeline } from './timeline.js';

type Read = { machine: MachineDetail; events: StateEvent[] } | { machine: null; events: StateEvent[] | null };

async function readMachine(api: Api, id: string, signal: AbortSignal): Promise<Read> {
  try {
    const machine = await api.get<MachineDetail>(`/v1/machines/${id}`, signal);
    return { machine, events: machine.events };
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    return { machine: null, events: await eventsOf(api, 'machines', id, signal) };
  }
}

export function MachineView({ api, id }: { api: Api; id: string }) {
  const { data, error, refresh } = usePoll((signal) => readMachine(api, id, signal), id);
  const { notice, run } = useAction(refresh);
  const now = Date.now();
  if (isRefusal(error)) return <Failure error={error} what="machines" />;
  return (
    <section data-view="machine">
      <p>
        <a href={href('machines')}>← Machines</a>
      </p>
      {error ? <Failure error={error} what="this machine" /> : null}
      {!data ? (
        <Loading />
      ) : !data.machine ? (
        <>
          <h2>Machine {id}</h2>
          <p>This machine no longer exists{data.events ? '; its history:' : ', and this API keeps no history of deleted machines.'}</p>
          {data.events ? <Timeline events={data.events} now={now} ended /> : null}
        </>
      ) : (
        <>
          <h2>
            {data.machine.name} <StateBadge state={data.machine.state} />
          </h2>
          <NoticeLine notice={notice} />
          <dl class="fields">
            <dt>Pool</dt>
            <dd>
              <a href={href('machines', undefined, { pool: data.machine.pool })}>{data.machine.pool}</a> ({data.machine.provider}
              {data.machine.provider_id ? ` ${data.machine.provider_id}` : ''})
            </dd>
            <dt>In this state since</dt>
            <dd>
              <Time at={data.machine.state_changed_at} now={now} />
            </dd>
            <dt>Created</dt>
            <dd>
              <Time at={data.machine.created_at} now={now} />
            </dd>
            <dt>Address</dt>
            <dd>{data.machine.ip ?? '—'}</dd>
            <dt>Uses</dt>
            <dd>{data.machine.uses}</dd>
            <dt>Task</dt>
            <dd>{data.machine.task_id ? <a href={href('tasks', data.machine.task_id)}>{data.machine.task_id}</a> : '—'}</dd>
            {data.machine.last_error ? (
              <>
                <dt>Last error</dt>
                <dd class="error-text">{data.machine.last_error}</dd>
              </>
            ) : null}
          </dl>
          <DrainButton api={api} machine={data.machine} run={run} />
          <h3>Timeline</h3>
          <Timeline events={data.events} now={now} ended={false} />
        </>
      )}
    </section>
  );
}
