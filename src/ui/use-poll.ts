// Live data without reloads: a view's read runs at once, then again every POLL_MS after the last
// one finished (never two at a time), and stops when the view goes away, its inputs change or
// the API refuses the token or its role.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export const POLL_MS = 2000;

export interface Polled<T> {
  data: T | undefined;
  /** The last read's failure; cleared by the next read that succeeds. The last data stays shown. */
  error: unknown;
  /** Read again now (after an action, so its effect shows without waiting for the next turn). */
  refresh: () => void;
}

/** `key` names the inputs of `load`: when it changes, the data is dropped and read anew. */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, key: string, everyMs = POLL_MS): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [turn, setTurn] = useState(0);
  const refresh = useCallback(() => setTurn((n) => n + 1), []);

  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, [key]);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const value = await load(controller.signal);
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      } catch (failure) {
        if (controller.signal.aborted) return;
        setError(failure);
        // A refused token or role will be refused again: stop asking until the inputs change.
        if (failure instanceof ApiError && (failure.status === 401 || failure.status === 403)) return;
      }
      timer = setTimeout(() => void read(), everyMs);
    };
    void read();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
    // `load` is a fresh closure each render; `key` stands for its inputs.
  }, [key, turn, everyMs]);

  return { data, error, refresh };
}
