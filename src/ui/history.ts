// A machine's or task's history from the events endpoints (`/v1/tasks/{id}/events`,
// `/v1/machines/{id}/events`, which also answer for a machine already deleted): the newest page,
// which is what a timeline shows. Null: no history to show.
import { ApiError, type Api } from './api.js';
import type { Page, StateEvent } from './api-types.js';

export async function eventsOf(api: Api, kind: 'tasks' | 'machines', id: string, signal: AbortSignal): Promise<StateEvent[] | null> {
  try {
    return (await api.get<Page<StateEvent>>(`/v1/${kind}/${id}/events`, signal)).items;
  } catch (error) {
    // Nothing known of it (its history pruned, or never there).
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

export interface Stay {
  event: StateEvent;
  /** How long the entity stayed in the state this event entered; up to `now` for the last. */
  ms: number;
  current: boolean;
}

/** Each event with how long its state lasted, oldest first. */
export function stays(events: readonly StateEvent[], now: number): Stay[] {
  const sorted = [...events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return sorted.map((event, i) => {
    const next = sorted[i + 1];
    return { event, ms: (next ? Date.parse(next.at) : now) - Date.parse(event.at), current: !next };
  });
}
