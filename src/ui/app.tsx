// The dashboard: sign-in, then pools, machines and tasks for operators, tasks only for
// submitters. A token the API refuses (revoked, expired) signs the page out.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, createApi } from './api.js';
import { probeReach, type Reach } from './role.js';
import { useRoute, type Route } from './route.js';
import { session } from './session.js';
import { POLL_MS } from './use-poll.js';
import { Loading } from './views/common.js';
import { MachineView } from './views/machine.js';
import { MachinesView } from './views/machines.js';
import { PoolsView } from './views/pools.js';
import { SignIn } from './views/sign-in.js';
import { TaskView } from './views/task.js';
import { TasksView } from './views/tasks.js';
import type { Api } from './api.js';

function why(error: unknown): string {
  if (error instanceof ApiError) return error.status === 401 ? `The API refused the token: ${error.problem?.detail ?? 'unauthorized'}.` : error.message;
  return `The API could not be reached: ${String(error)}.`;
}

function Page({ api, reach, route }: { api: Api; reach: Reach; route: Route }) {
  const operator = reach === 'operator';
  switch (route.view) {
    case 'pools':
      return <PoolsView api={api} />;
    case 'machines':
      return <MachinesView api={api} route={route} />;
    case 'machine':
      return <MachineView api={api} id={route.id ?? ''} />;
    case 'task':
      return <TaskView api={api} id={route.id ?? ''} />;
    case 'tasks':
      return <TasksView api={api} route={route} operator={operator} />;
  }
}

function Nav({ reach, route, onSignOut }: { reach: Reach; route: Route; onSignOut: () => void }) {
  const current = (view: string) => (route.view === view || route.view === view.slice(0, -1) ? 'page' : undefined);
  return (
    <nav class="container-fluid top">
      <ul>
        <li>
          <strong>sandfleet</strong>
        </li>
        {reach === 'operator' ? (
          <>
            <li>
              <a href="#/pools" aria-current={current('pools')}>
                Pools
              </a>
            </li>
            <li>
              <a href="#/machines" aria-current={current('machines')}>
                Machines
              </a>
            </li>
          </>
        ) : null}
        <li>
          <a href="#/tasks" aria-current={current('tasks')}>
            Tasks
          </a>
        </li>
      </ul>
      <ul>
        <li>
          <small class="muted" data-reach={reach}>
            {reach === 'operator' ? 'operator token' : 'submitter token: tasks only'}
          </small>
        </li>
        <li>
          <button type="button" class="secondary outline compact" onClick={onSignOut}>
            Sign out
          </button>
        </li>
      </ul>
    </nav>
  );
}

export function App() {
  const [token, setToken] = useState<string | null>(() => session.token());
  const [reach, setReach] = useState<Reach | null>(null);
  const [reason, setReason] = useState<string | null>(null);
  const signOut = (because: string | null) => {
    session.clear();
    setToken(null);
    setReach(null);
    setReason(because);
  };
  const api = useMemo(() => (token ? createApi(token, (error) => signOut(why(error))) : null), [token]);
  const route = useRoute(reach === 'submitter' ? 'tasks' : 'pools');

  // A token kept from earlier in this tab is checked again: it may have been revoked since. Only
  // the API's refusal signs out; an unreachable daemon (restarting, say) is asked again.
  const [unreachable, setUnreachable] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (!api || reach) return;
    let retry: ReturnType<typeof setTimeout> | undefined;
    probeReach(api).then(
      (found) => {
        setUnreachable(null);
        setReach(found);
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 401) return; // createApi's callback signed out
        setUnreachable(why(error));
        retry = setTimeout(() => setAttempt((n) => n + 1), POLL_MS);
      },
    );
    return () => clearTimeout(retry);
  }, [api, reach, attempt]);

  const signIn = async (candidate: string): Promise<string | null> => {
    try {
      const found = await probeReach(createApi(candidate, () => {}));
      session.save(candidate);
      setReason(null);
      setToken(candidate);
      setReach(found);
      return null;
    } catch (error) {
      return why(error);
    }
  };

  if (!token || !api) return <SignIn onSignIn={signIn} reason={reason} />;
  if (!reach) return <Loading>{unreachable ? `${unreachable} Trying again…` : 'Checking the token…'}</Loading>;
  return (
    <>
      <Nav reach={reach} route={route} onSignOut={() => signOut(null)} />
      <main class="container-fluid">
        <Page api={api} reach={reach} route={route} />
      </main>
    </>
  );
}
