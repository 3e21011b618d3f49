// The page's place, in the URL's fragment (#/tasks?state=queued): links and the back button work,
// the server never sees it, and changing it reloads nothing.
import { useEffect, useState } from 'preact/hooks';

export type View = 'pools' | 'machines' | 'machine' | 'tasks' | 'task';

export interface Route {
  view: View;
  /** The machine's or task's id, for the detail views. */
  id?: string;
  params: URLSearchParams;
}

const LISTS: Record<string, View> = { pools: 'pools', machines: 'machines', tasks: 'tasks' };
const DETAILS: Record<string, View> = { machines: 'machine', tasks: 'task' };

export function parseRoute(hash: string, fallback: View): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const [section = '', id] = path.split('/');
  const params = new URLSearchParams(query);
  if (id && DETAILS[section]) return { view: DETAILS[section], id: decodeURIComponent(id), params };
  return { view: LISTS[section] ?? fallback, params };
}

/** The fragment for a view, with its non-empty parameters. */
export function href(section: 'pools' | 'machines' | 'tasks', id?: string, params: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams(Object.entries(params).filter((entry): entry is [string, string] => Boolean(entry[1]))).toString();
  return `#/${section}${id ? `/${encodeURIComponent(id)}` : ''}${query ? `?${query}` : ''}`;
}

export function useRoute(fallback: View): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return parseRoute(hash, fallback);
}
