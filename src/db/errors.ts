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
