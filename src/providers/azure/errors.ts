// Maps Azure Resource Manager errors (RestError from the SDK pipeline, failed long-running
// operations) to provider error kinds.
import { capacity, fatal, notFound, ProviderError, throttled, transient } from '../errors.js';

const CAPACITY = new Set(['AllocationFailed', 'OverconstrainedAllocationRequest', 'ZonalAllocationFailed', 'SkuNotAvailable', 'QuotaExceeded', 'OperationNotAllowedQuota', 'SpotQuotaExceeded']);
const NOT_FOUND = new Set(['ResourceNotFound', 'NotFound', 'ResourceGroupNotFound']);
/** Another operation holds the scale set, or Azure pre-empted ours: try again shortly. */
const BUSY = new Set(['OperationNotAllowed', 'Conflict', 'ConflictingOperation', 'OperationPreempted', 'RetryableError']);
/** Azure's own faults, which its messages say to retry ("An internal execution error occurred. Please retry later."). */
const AZURE_FAULT = new Set(['InternalExecutionError', 'InternalOperationError', 'InternalServerError', 'ServiceUnavailable', 'GatewayTimeout']);
const AUTH = new Set(['AuthenticationFailed', 'AuthorizationFailed', 'InvalidAuthenticationToken', 'InvalidAuthenticationTokenTenant', 'ExpiredAuthenticationToken']);
const DEFAULT_RETRY_AFTER_MS = 5000;

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  response?: { headers?: { get(name: string): string | undefined } };
}

export function classifyAzureError(error: unknown, operation: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = (error ?? {}) as RestErrorLike;
  const code = e.code ?? failedOperationCode(e.message) ?? 'Unknown';
  const status = e.statusCode;
  const message = `azure ${operation}: ${code}${status ? ` (${status})` : ''}: ${e.message ?? String(error)}`;
  const details = { code, operation, cause: error };
  if (status === 429 || code === 'TooManyRequests') return throttled(message, retryAfterMs(e), details);
  if (CAPACITY.has(code)) return capacity(message, details);
  if (status === 404 || NOT_FOUND.has(code)) return notFound(message, details);
  if (status === 401 || status === 403 || AUTH.has(code)) return fatal(message, details);
  if (status === 409 || BUSY.has(code) || AZURE_FAULT.has(code)) return transient(message, details);
  if (failedOperationCode(e.message) !== undefined) return fatal(message, details);
  if (status === undefined || status >= 500 || code === 'REQUEST_SEND_ERROR' || code === 'ECONNRESET' || code === 'ECONNREFUSED') return transient(message, details);
  return fatal(message, details);
}

function retryAfterMs(e: RestErrorLike): number {
  const header = e.response?.headers?.get('retry-after');
  const seconds = header === undefined ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_RETRY_AFTER_MS;
}

/**
 * A failed long-running operation surfaces as a plain Error whose message carries the code:
 * "The long-running operation has failed. AllocationFailed. Allocation failed. …".
 */
function failedOperationCode(message: string | undefined): string | undefined {
  return message ? /long-running operation has failed\. ([A-Za-z]+)\./.exec(message)?.[1] : undefined;
}
