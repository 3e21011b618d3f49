// Counts, at the driver, the statements and committed transactions this process sends to
// PostgreSQL, split by who sent them: the job queue (BullMQ's PostgreSQL backend), the sim
// cloud (its own schema, a stand-in for a cloud API), or sandfleet itself. Counting here is
// exact and immediate, where pg_stat_database lags by up to the stats flush interval.
import pg from 'pg';

export type Sender = 'sandfleet' | 'queue' | 'sim';

export interface Counts {
  statements: Record<Sender, number>;
  transactions: Record<Sender, number>;
}

interface ClientState {
  /** Inside BEGIN … COMMIT: who sent the transaction's statements so far. */
  open: Set<Sender> | null;
}

const zero = (): Record<Sender, number> => ({ sandfleet: 0, queue: 0, sim: 0 });
let counts: Counts = { statements: zero(), transactions: zero() };
/** Statements by their first line (BullMQ's command files start with a comment naming the command), for finding what dominates. */
let byText = new Map<string, number>();
const states = new WeakMap<object, ClientState>();
let installed = false;

/** BullMQ's command files start with a comment; its LISTEN client and session setup are its own too. */
function senderOf(text: string): Sender {
  if (/sim_cloud/.test(text)) return 'sim';
  if (/^\s*(--|LISTEN|UNLISTEN|SELECT set_config\('application_name')/i.test(text)) return 'queue';
  return 'sandfleet';
}

function textOf(query: unknown): string | null {
  if (typeof query === 'string') return query;
  if (query && typeof query === 'object' && 'text' in query && typeof query.text === 'string') return query.text;
  return null;
}

function observe(client: object, text: string): void {
  const state = states.get(client) ?? { open: null };
  states.set(client, state);
  const verb = text.trim().split(/\s+/, 1)[0]?.toUpperCase() ?? '';
  if (verb === 'BEGIN' || verb === 'START') {
    state.open = new Set();
    return;
  }
  if (verb === 'COMMIT' || verb === 'ROLLBACK') {
    const senders = state.open;
    state.open = null;
    // A transaction with any queue statement is the queue's; else sim's only if all were sim's.
    if (verb === 'COMMIT' && senders) counts.transactions[senders.has('queue') ? 'queue' : senders.has('sandfleet') || senders.size === 0 ? 'sandfleet' : 'sim']++;
    return;
  }
  const sender = senderOf(text);
  counts.statements[sender]++;
  const head = text.trim().split('\n', 1)[0]!.slice(0, 90);
  byText.set(head, (byText.get(head) ?? 0) + 1);
  if (state.open) state.open.add(sender);
  else counts.transactions[sender]++;
}

/** Starts counting every query of every pg client in this process (idempotent). */
export function installStatementCounter(): void {
  if (installed) return;
  installed = true;
  const original = Reflect.get(pg.Client.prototype, 'query') as (this: unknown, ...args: unknown[]) => unknown;
  pg.Client.prototype.query = function patched(this: object, ...args: unknown[]) {
    const text = textOf(args[0]);
    if (text !== null && !(this as { [UNCOUNTED]?: boolean })[UNCOUNTED]) observe(this, text);
    return original.apply(this, args);
  } as typeof pg.Client.prototype.query;
}

/** Marks a client whose queries (a test's own observation) are not counted. */
export const UNCOUNTED = Symbol('uncounted');

export function resetCounts(): void {
  counts = { statements: zero(), transactions: zero() };
  byText = new Map();
}

/** The most frequent statements since the last reset, by their first line. */
export function topStatements(n = 15): [string, number][] {
  return [...byText.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

export function readCounts(): Counts {
  return { statements: { ...counts.statements }, transactions: { ...counts.transactions } };
}
