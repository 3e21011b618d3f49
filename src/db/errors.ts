// Postgres error classification. drizzle wraps driver errors (DrizzleQueryError), so the
// SQLSTATE is looked for along the cause chain.

export const SQLSTATE = {
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  uniqueViolation: '23505',
  duplicateDatabase: '42P04',
  invalidCatalogName: '3D000',
  queryCanceled: '57014',
  cannotConnectNow: '57P03',
  tooManyConnections: '53300',
} as const;

export function sqlState(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Errors after which the same transaction, run again from the start, may succeed. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = sqlState(error);
  return code === SQLSTATE.serializationFailure || code === SQLSTATE.deadlockDetected;
}

/**
 * The database cannot take the statement now, but may in a moment: no pooled connection came
 * free within the pool's timeout (saturation), or the server refused or dropped connections.
 */
export function isDatabaseBusy(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === 'ECONNREFUSED' || code === SQLSTATE.cannotConnectNow || code === SQLSTATE.tooManyConnections) return true;
    if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated/.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Raised by the database module when a connection cannot be made, with what to do about it. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(
      `cannot reach PostgreSQL at ${redactUrl(url)}: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Start it (for example `pg_ctlcluster 15 main start`) or set DATABASE_URL.',
      { cause },
    );
  }
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}

/**
 * A failed statement as it may be logged, answered or kept (a job's failedReason): the SQL state,
 * the constraint and the operation, never a bound value. drizzle's own error lists every
 * parameter in its message, and PostgreSQL's messages and details quote values (`Key
 * (idempotency_key)=(…) already exists`, `invalid input syntax for type uuid: "…"`).
 */
export class DatabaseQueryError extends Error {
  override readonly name = 'DatabaseQueryError';
  constructor(
    readonly code: string | undefined,
    readonly constraint: string | undefined,
    readonly operation: string,
    reason: string,
  ) {
    super(`database error${code ? ` ${code}` : ''}${constraint ? ` (constraint ${constraint})` : ''} during ${operation}: ${reason}`);
  }
}

/** The error with every bound value and quoted value taken out, when it is a database error; as given otherwise. */
export function withoutValues(error: unknown): unknown {
  if (error instanceof DatabaseQueryError || !(error instanceof Error)) return error;
  const query = queryOf(error);
  const server = serverErrorOf(error);
  if (query === undefined && !server) return error;
  const operation = query === undefined ? 'a statement' : (/^\s*(\w+)/.exec(query)?.[1]?.toUpperCase() ?? 'a statement');
  // A server error's text may quote values: only its SQL state's class is said. A client-side
  // failure (no connection, a timeout) quotes nothing and is kept.
  const reason = server ? (CONDITIONS[server.code.slice(0, 2)] ?? 'the server refused the statement') : clientReason(error);
  return new DatabaseQueryError(server?.code, server?.constraint, operation, reason);
}

/** Why a statement failed before the server answered (no connection, a timeout): the innermost message, which quotes no value. */
function clientReason(error: Error): string {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e instanceof Error && e.cause instanceof Error; depth++) e = e.cause;
  const message = e instanceof Error ? e.message : '';
  return message && !/params:/.test(message) ? message : 'failed';
}

/** The message of `withoutValues(error)`, for a log line or an answer. */
export function errorMessage(error: unknown): string {
  const safe = withoutValues(error);
  return safe instanceof Error ? safe.message : String(safe);
}

/** The statement of drizzle's error along the cause chain (a wrapper's message may repeat its parameters). */
function queryOf(error: Error): string | undefined {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { query, params } = e as { query?: unknown; params?: unknown };
    if (typeof query === 'string' && params !== undefined) return query;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function serverErrorOf(error: unknown): { code: string; constraint: string | undefined } | null {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, severity, constraint } = e as { code?: unknown; severity?: unknown; constraint?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string') return { code, constraint: typeof constraint === 'string' ? constraint : undefined };
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/** PostgreSQL's error classes (the SQL state's first two characters), as said in place of the server's message. */
const CONDITIONS: Record<string, string> = {
  '08': 'connection exception',
  '22': 'a value the column cannot hold',
  '23': 'integrity constraint violation',
  '25': 'invalid transaction state',
  '40': 'transaction rolled back (serialization failure or deadlock)',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '55': 'object not in prerequisite state',
  '57': 'operator intervention (canceled, shut down or restarted)',
  '58': 'system error',
  XX: 'internal error',
};
