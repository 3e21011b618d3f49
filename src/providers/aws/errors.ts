// Maps EC2 API errors (SDK exceptions named by the EC2 error code) to provider error kinds.
import { capacity, fatal, notFound, ProviderError, throttled, transient } from '../errors.js';

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'RequestThrottledException']);
/** Offering-specific shortages and quotas: try another subnet, or on-demand instead of spot. */
export const CAPACITY_CODES = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'Unsupported',
]);
const NOT_FOUND = new Set(['InvalidInstanceID.NotFound']);
const TRANSIENT = new Set(['InternalError', 'InternalFailure', 'Unavailable', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);
/** EC2 sends no Retry-After; this is how long a throttled caller should hold off. */
const THROTTLE_BACKOFF_MS = 1000;

export function ec2ErrorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  return typeof e.name === 'string' ? e.name : undefined;
}

export function classifyEc2Error(error: unknown, operation: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const code = ec2ErrorCode(error) ?? 'Unknown';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const message = `ec2 ${operation}: ${code}: ${error instanceof Error ? error.message : String(error)}`;
  const details = { code, operation, cause: error };
  if (THROTTLING.has(code)) return throttled(message, THROTTLE_BACKOFF_MS, details);
  if (CAPACITY_CODES.has(code)) return capacity(message, details);
  if (NOT_FOUND.has(code)) return notFound(message, details);
  if (TRANSIENT.has(code) || NETWORK.has(code) || (status !== undefined && status >= 500)) return transient(message, details);
  return fatal(message, details);
}

/** The instance ids an InvalidInstanceID.NotFound error names. */
export function idsNamedIn(error: unknown): string[] {
  const text = error instanceof Error ? error.message : String(error);
  return text.match(/i-[0-9a-f]+/g) ?? [];
}
