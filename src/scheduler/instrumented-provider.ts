// Wraps a provider adapter so every cloud call is observed (metrics): provider, pool, operation, how
// it ended (`ok` or the error kind and code) and how long it took. Behaviour is unchanged.
import { isProviderError } from '../providers/errors.js';
import type { Provider } from '../providers/types.js';
import { wrapProvider } from './wrap-provider.js';

export interface CloudCall {
  provider: string;
  pool: string;
  operation: string;
  /** `ok`, or `<kind>` / `<kind>:<code>` of the ProviderError. */
  outcome: string;
  seconds: number;
}

export type CloudCallObserver = (call: CloudCall) => void;

export function instrument(provider: Provider, pool: string, observe: CloudCallObserver): Provider {
  return wrapProvider(provider, async (operation, call) => {
    const started = performance.now();
    let outcome = 'ok';
    try {
      return await call();
    } catch (error) {
      outcome = isProviderError(error) ? (error.details.code ? `${error.kind}:${error.details.code}` : error.kind) : 'error';
      throw error;
    } finally {
      observe({ provider: provider.kind, pool, operation, outcome, seconds: (performance.now() - started) / 1000 });
    }
  });
}
