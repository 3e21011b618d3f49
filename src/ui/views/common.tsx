// Pieces every view uses: state badges, times, the refusal and error notices.
import type { ComponentChildren } from 'preact';
import { ApiError } from '../api.js';
import { ago } from '../format.js';
import type { Notice } from '../use-action.js';

export function StateBadge({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

export function Time({ at, now }: { at: string | null; now: number }) {
  return at ? <time dateTime={at} title={at}>{ago(at, now)}</time> : <span class="muted">—</span>;
}

/** What a failed read or action says: a 403 as a refusal of the role, anything else as it came. */
export function Failure({ error, what }: { error: unknown; what: string }) {
  if (error instanceof ApiError && error.status === 403) {
    return (
      <article class="refusal">
        <p role="alert">
          <strong>Not allowed.</strong> Your token may not see {what}: the API answered 403 Forbidden
          {error.problem ? ` (${error.problem.detail})` : ''}. Sign in with an operator or admin token to see it.
        </p>
      </article>
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="failure" role="alert">
      Could not read {what}: {message}. Retrying.
    </p>
  );
}

export function Loading({ children }: { children?: ComponentChildren }) {
  return <p aria-busy="true">{children ?? 'Loading…'}</p>;
}

/** A 403 stops the view (it will not pass on retry); other failures leave the last data shown. */
export function isRefusal(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403;
}

export function NoticeLine({ notice }: { notice: Notice | null }) {
  if (!notice) return null;
  return (
    <p class={`notice notice-${notice.kind}`} role="status">
      {notice.text}
    </p>
  );
}
