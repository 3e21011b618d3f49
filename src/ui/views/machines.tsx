// Machines, filtered by pool and state, with a drain button on each machine that can take one:
// a ready machine drains now, a leased one after its task.
import type { Api } from '../api.js';
import { listAll, withQuery } from '../lists.js';
import { MACHINE_STATES, type Machine, type MachineDetail, type Pool } from '../api-types.js';
import { href, type Route } from '../route.js';
import { useAction } from '../use-action.js';
import { usePoll } from '../use-poll.js';
import { Failure, isRefusal, Loading, NoticeLine, StateBadge, Time } from './common.js';
import { Filters } from './filters.js';

/** A machine from the list or its detail, which may be deleted. */
type Drainable = Pick<Machine, 'id' | 'name'> & Pick<MachineDetail, 'state'>;

/** Drain a machine as the API allows it from its state (docs/api.md, drain). */
export function drainPath(machine: Drainable): string | null {
  if (machine.state === 'ready') return `/v1/machines/${machine.id}/drain`;
  if (machine.state === 'leased') return `/v1/machines/${machine.id}/drain?after_task=true`;
  return null;
}

export function DrainButton({ api, machine, run }: { api: Api; machine: Drainable; run: ReturnType<typeof useAction>['run'] }) {
  const path = drainPath(machine);
  if (!path) return null;
  const afterTask = machine.state === 'leased';
  const label = afterTask ? 'Drain after task' : 'Drain';
  const question = afterTask ? `Delete ${machine.name} once its task ends?` : `Drain ${machine.name}? It will be deleted.`;
  return (
    <button
      type="button"
      class="secondary outline compact"
      data-action="drain"
      onClick={() =>
        void run(question, async () => {
          const after = await api.post<Machine>(path);
          return afterTask ? `${after.name} will be deleted after its task.` : `${after.name} is ${after.state}.`;
        })
      }
    >
      {label}
    </button>
  );
}

export function MachinesView({ api, route }: { api: Api; route: Route }) {
  const pool = route.params.get('pool') ?? undefined;
  const state = route.params.get('state') ?? undefined;
  const path = withQuery('/v1/machines', { pool, state });
  const machines = usePoll((signal) => listAll<Machine>(api, path, signal), path);
  const pools = usePoll((signal) => listAll<Pool>(api, '/v1/pools', signal), 'pool-names', 15_000);
  const { notice, run } = useAction(machines.refresh);
  const now = Date.now();
  if (isRefusal(machines.error)) return <Failure error={machines.error} what="machines" />;
  return (
    <section>
      <h2>Machines</h2>
      <Filters
        section="machines"
        values={{ pool, state }}
        choices={{ pool: pools.data?.items.map((p) => p.name) ?? (pool ? [pool] : []), state: [...MACHINE_STATES] }}
      />
      <NoticeLine notice={notice} />
      {machines.error ? <Failure error={machines.error} what="machines" /> : null}
      {!machines.data ? (
        <Loading />
      ) : machines.data.items.length === 0 ? (
        <p class="muted">No machines{pool || state ? ' match' : ''}.</p>
      ) : (
        <div class="overflow-auto">
          <table class="striped" data-view="machines">
            <thead>
              <tr>
                <th>Machine</th>
                <th>Pool</th>
                <th>State</th>
                <th>Since</th>
                <th>Uses</th>
                <th>Task</th>
                <th>Last error</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {machines.data.items.map((m) => (
                <tr key={m.id} data-machine-id={m.id}>
                  <th scope="row">
                    <a href={href('machines', m.id)}>{m.name}</a>
                  </th>
                  <td>{m.pool}</td>
                  <td>
                    <StateBadge state={m.state} />
                  </td>
                  <td>
                    <Time at={m.state_changed_at} now={now} />
                  </td>
                  <td>{m.uses}</td>
                  <td>{m.task_id ? <a href={href('tasks', m.task_id)}>{m.task_id.slice(0, 8)}</a> : <span class="muted">—</span>}</td>
                  <td class="error-text">{m.last_error ?? ''}</td>
                  <td>
                    <DrainButton api={api} machine={m} run={run} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {machines.data.complete ? null : <p class="muted">Showing the first {machines.data.items.length} machines; filter by pool or state to see the rest.</p>}
        </div>
      )}
    </section>
  );
}
