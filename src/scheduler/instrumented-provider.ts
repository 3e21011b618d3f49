// Wraps a provider adapter so every cloud call is observed (metrics): provider, operation, how
// it ended (`ok` or the error kind and code) and how long it took. Behaviour is unchanged.
import { isProviderError } from '../providers/errors.js';
import type { Provider } from '../providers/types.js';

export interface CloudCall {
  provider: string;
  operation: string;
  /** `ok`, or `<kind>` / `<kind>:<code>` of the ProviderError. */
  outcome: string;
  seconds: number;
}

export type CloudCallObserver = (call: CloudCall) => void;

const OPERATIONS = ['create', 'get', 'list', 'stop', 'delete', 'reimage'] as const;

export function instrument(provider: Provider, observe: CloudCallObserver): Provider {
  const wrapped: Record<string, unknown> = { kind: provider.kind, capabilities: provider.capabilities };
  for (const operation of OPERATIONS) {
    if (!provider[operation]) continue;
    const method = (...args: unknown[]) => (provider[operation] as (...a: unknown[]) => Promise<unknown>)(...args);
    wrapped[operation] = async (...args: unknown[]) => {
      const started = performance.now();
      let outcome = 'ok';
      try {
        return await method(...args);
      } catch (error) {
        outcome = isProviderError(error) ? (error.details.code ? `${error.kind}:${error.details.code}` : error.kind) : 'error';
        throw error;
      } finally {
        observe({ provider: provider.kind, operation, outcome, seconds: (performance.now() - started) / 1000 });
      }
    };
  }
  return wrapped as unknown as Provider;
}
