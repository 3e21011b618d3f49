// Every cloud call answers within a deadline: a call the cloud never answers (a hung connection,
// an endpoint that accepts and says nothing) ends as a transient error the job retries, instead
// of holding a worker slot and the pool's supervision forever. The adapters' own request
// timeouts cut the connection; this is the bound that holds whatever an adapter does.
import { transient } from '../providers/errors.js';
import type { Provider } from '../providers/types.js';
import { wrapProvider } from './wrap-provider.js';

/** Wraps `provider` so each call rejects after `ms`; `onTimeout` hears of each call that did. */
export function withDeadline(provider: Provider, ms: number, onTimeout: (operation: string) => void): Provider {
  return wrapProvider(provider, (operation, call) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout(operation);
        reject(transient(`${provider.kind} ${operation}: no answer within ${ms / 1000} s`, { operation, code: 'Timeout' }));
      }, ms);
    });
    return Promise.race([call(), deadline]).finally(() => clearTimeout(timer));
  });
}
