// Provider errors, classified so callers decide by kind, never by a cloud's error string:
// throttled (retry after), transient (retry), capacity (skip that offering a while, fall back),
// not_found, fatal (auth, validation: surface, do not retry).

export type ProviderErrorKind = 'throttled' | 'transient' | 'capacity' | 'not_found' | 'fatal';

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly details: {
      /** The provider's own error code, for logs and metrics. */
      code?: string | undefined;
      /** For throttled: how long the provider asked us to wait. */
      retryAfterMs?: number | undefined;
      operation?: string | undefined;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: details.cause });
  }

  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'transient' || this.kind === 'capacity';
  }
}

export const throttled = (message: string, retryAfterMs: number, details: Omit<ProviderError['details'], 'retryAfterMs'> = {}) =>
  new ProviderError('throttled', message, { ...details, retryAfterMs });
export const transient = (message: string, details: ProviderError['details'] = {}) => new ProviderError('transient', message, details);
export const capacity = (message: string, details: ProviderError['details'] = {}) => new ProviderError('capacity', message, details);
export const notFound = (message: string, details: ProviderError['details'] = {}) => new ProviderError('not_found', message, details);
export const fatal = (message: string, details: ProviderError['details'] = {}) => new ProviderError('fatal', message, details);

export function isProviderError(error: unknown, kind?: ProviderErrorKind): error is ProviderError {
  return error instanceof ProviderError && (kind === undefined || error.kind === kind);
}
