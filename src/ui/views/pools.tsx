// Pools: how many machines each has against what its work needs and its cap, its machines by
// state, its queue, and how long its tasks waited to start.
import type { Api } from '../api.js';
import { listAll } from '../lists.js';
import { MACHINE_STATES, type Pool } from '../api-types.js';
import { seconds } from '../format.js';
import { href } from '../route.js';
import { usePoll } from '../use-poll.js';
import { waitTimesByPool, type WaitTimes } from '../wait-times.js';
import { Failure, isRefusal, Loading, StateBadge } from './common.js';

/** Wait times move slowly, and /metrics costs the daemon a few queries: read it less often. */
const METRICS_EVERY_MS = 10_000;

function machineCount(pool: Pool): number {
  return Object.values(pool.machines).reduce((a, b) => a + b, 0);
}

function ByState({ machines, pool }: { machines: Record<string, number>; pool: string }) {
  const states = MACHINE_STATES.filter((state) => machines[state]);
  if (states.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="by-state">
      {states.map((state) => (
        <li key={state}>
          <a href={href('machines', undefined, { pool, state })}>
            <StateBadge state={state} /> {machines[state]}
          </a>
        </li>
      ))}
    </ul>
  );
}

export function PoolsView({ api }: { api: Api }) {
  const { data, error } = usePoll((signal) => listAll<Pool>(api, '/v1/pools', signal), 'pools');
  // Without /metrics (a proxy may keep it private) the pools show without wait times.
  const waits = usePoll(async (signal): Promise<Map<string, WaitTimes>> => waitTimesByPool(await api.text('/metrics', signal)), 'waits', METRICS_EVERY_MS);
  if (isRefusal(error)) return <Failure error={error} what="pools" />;
  return (
    <section>
      <h2>Pools</h2>
      {error ? <Failure error={error} what="pools" /> : null}
      {!data ? (
        <Loading />
      ) : (
        <div class="overflow-auto">
          <table class="striped" data-view="pools">
            <thead>
              <tr>
                <th>Pool</th>
                <th>Machines / desired / max</th>
                <th>By state</th>
                <th>Queued</th>
                <th title="Submission to start, estimated from this daemon's histogram since it started">Wait p50 / p95</th>
                <th>Policy</th>
                <th>Cost / h</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((pool) => {
                const wait = waits.data?.get(pool.name);
                const count = machineCount(pool);
                return (
                  <tr key={pool.name} data-pool={pool.name}>
                    <th scope="row">
                      <a href={href('machines', undefined, { pool: pool.name })}>{pool.name}</a>
                      <small class="muted">
                        {' '}
                        {pool.provider} · {pool.platform}
                        {pool.active ? '' : ' · inactive'}
                      </small>
                    </th>
                    <td>
                      <span class="size">
                        {count} / {pool.desired_size} / {pool.max_size}
                      </span>
                      <meter min={0} max={Math.max(pool.max_size, 1)} value={count} title={`${count} machines, ${pool.desired_size} desired, at most ${pool.max_size}`} />
                    </td>
                    <td>
                      <ByState machines={pool.machines} pool={pool.name} />
                    </td>
                    <td>
                      <a href={href('tasks', undefined, { pool: pool.name, state: 'queued' })}>{pool.queued_tasks}</a>
                    </td>
                    <td>{wait && wait.count > 0 ? `${seconds(wait.p50)} / ${seconds(wait.p95)}` : <span class="muted">—</span>}</td>
                    <td>
                      {pool.autoscale_policy}, {pool.recycle}
                    </td>
                    <td>{pool.cost_per_hour === null ? <span class="muted">—</span> : pool.cost_per_hour}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
