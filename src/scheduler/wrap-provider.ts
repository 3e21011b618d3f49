// A provider whose every cloud call goes through `around` (metrics, deadlines), with the same
// kind and capabilities; an operation the adapter lacks stays absent.
import type { Provider } from '../providers/types.js';

const OPERATIONS = ['create', 'get', 'list', 'stop', 'delete', 'reimage'] as const;
export type ProviderOperation = (typeof OPERATIONS)[number];

export function wrapProvider(provider: Provider, around: (operation: ProviderOperation, call: () => Promise<unknown>) => Promise<unknown>): Provider {
  const wrapped: Record<string, unknown> = { kind: provider.kind, capabilities: provider.capabilities };
  for (const operation of OPERATIONS) {
    if (!provider[operation]) continue;
    const method = (...args: unknown[]) => (provider[operation] as (...a: unknown[]) => Promise<unknown>)(...args);
    wrapped[operation] = (...args: unknown[]) => around(operation, () => method(...args));
  }
  return wrapped as unknown as Provider;
}
