// Provider errors, classified so callers decide by kind, never by a cloud's error string:
// throttled (retry after), transient (retry), capacity (skip that offering a while, fall back),
// not_found, fatal (auth, validation: surface, do not retry).

export type ProviderErrorKind = 'throttled' | 'transient' | 'capacity' | 'not_found' | 'fatal';

/**
 * What a provider error keeps of the SDK error behind it. Never the error itself: SDK errors
 * carry the request, and a request carries credentials (Azure's bearer token, for one).
 */
export interface CauseSummary {
  name: string;
  message: string;
  code?: string;
  statusCode?: number;
}

export function summarizeCause(error: unknown): CauseSummary | undefined {
  if (error === undefined || error === null) return undefined;
  if (error instanceof ProviderError) return { name: error.name, message: error.message, code: error.details.code };
  const e = error as { name?: unknown; message?: unknown; code?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = typeof e.statusCode === 'number' ? e.statusCode : typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : typeof error === 'string' ? error : 'unknown error',
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(status === undefined ? {} : { statusCode: status }),
  };
}

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly details: {
    /** The provider's own error code, for logs and metrics. */
    code?: string | undefined;
    /** For throttled: how long the provider asked us to wait. */
    retryAfterMs?: number | undefined;
    operation?: string | undefined;
  };

  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    details: { code?: string | undefined; retryAfterMs?: number | undefined; operation?: string | undefined; cause?: unknown } = {},
  ) {
    const { cause, ...rest } = details;
    super(message, cause === undefined ? undefined : { cause: summarizeCause(cause) });
    this.details = rest;
  }

  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'transient' || this.kind === 'capacity';
  }
}

type Details = ConstructorParameters<typeof ProviderError>[2];

export const throttled = (message: string, retryAfterMs: number, details: Omit<NonNullable<Details>, 'retryAfterMs'> = {}) =>
  new ProviderError('throttled', message, { ...details, retryAfterMs });
export const transient = (message: string, details: Details = {}) => new ProviderError('transient', message, details);
export const capacity = (message: string, details: Details = {}) => new ProviderError('capacity', message, details);
export const notFound = (message: string, details: Details = {}) => new ProviderError('not_found', message, details);
export const fatal = (message: string, details: Details = {}) => new ProviderError('fatal', message, details);
/**
 * A cloud answer that breaks the cloud's own contract (a field missing, a state it does not
 * have, a page token that never ends). Nothing is written from it; transient, since the next
 * answer may be whole, and named so the log says what was wrong.
 */
export const malformed = (message: string, details: Details = {}) => new ProviderError('transient', message, { code: 'MalformedResponse', ...details });

export function isProviderError(error: unknown, kind?: ProviderErrorKind): error is ProviderError {
  return error instanceof ProviderError && (kind === undefined || error.kind === kind);
}
