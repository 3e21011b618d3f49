// A state history as a list: each state entered, when, by whom, why, and how long it lasted.
import type { StateEvent } from '../api-types.js';
import { span } from '../format.js';
import { stays } from '../history.js';
import { StateBadge, Time } from './common.js';

export function Timeline({ events, now, ended }: { events: readonly StateEvent[]; now: number; ended: boolean }) {
  if (events.length === 0) return <p class="muted">No recorded transitions.</p>;
  return (
    <ol class="timeline" data-view="timeline">
      {stays(events, now).map(({ event, ms, current }, i) => (
        <li key={`${i}-${event.at}-${event.to}`} data-state={event.to}>
          <StateBadge state={event.to} />
          <span class="muted">
            {' '}
            <Time at={event.at} now={now} />
            {current && ended ? '' : ` · ${current ? 'for' : 'lasted'} ${span(ms)}`}
          </span>
          <br />
          <small>
            {event.from ? `from ${event.from}` : 'created'} by <code>{event.actor}</code>
            {event.reason ? ` — ${event.reason}` : ''}
          </small>
        </li>
      ))}
    </ol>
  );
}
