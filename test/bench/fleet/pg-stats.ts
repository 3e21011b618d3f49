// Snapshots of PostgreSQL's own counters for the run's database: committed transactions
// (pg_stat_database.xact_commit) and, per statement, calls (pg_stat_statements), and the
// difference between two snapshots. Read from the maintenance database as the observer, so the
// reading itself never counts against the run's database.
import type pg from 'pg';
import { DAEMON_ROLE, OBSERVER } from './postgres.js';

export interface StatementCounters {
  /** userid, queryid and toplevel: pg_stat_statements' own key (queryid alone repeats per role). */
  key: string;
  role: string;
  query: string;
  calls: number;
  rows: number;
  totalMs: number;
}

export interface StatsSnapshot {
  /** Epoch ms, the server's clock. */
  at: number;
  xactCommit: number;
  xactRollback: number;
  /** Entries pg_stat_statements evicted so far: any between two snapshots makes their difference short. */
  evicted: number;
  statements: Map<string, StatementCounters>;
}

export interface StatsDelta {
  seconds: number;
  xactCommit: number;
  xactRollback: number;
  evicted: number;
  /** Statements with calls in between, most calls first. */
  statements: StatementCounters[];
}

export async function snapshot(client: pg.Client, database: string): Promise<StatsSnapshot> {
  const db = await client.query<{ at: string; xact_commit: string; xact_rollback: string; dealloc: string }>(
    `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS at, d.xact_commit, d.xact_rollback, i.dealloc
     FROM pg_stat_database d, pg_stat_statements_info i WHERE d.datname = $1`,
    [database],
  );
  const row = db.rows[0];
  if (!row) throw new Error(`no statistics for database ${database}`);
  const statements = await client.query<{ key: string; role: string; query: string; calls: string; rows: string; total_ms: number }>(
    `SELECT s.userid || ':' || s.queryid || ':' || s.toplevel AS key, r.rolname AS role, s.query, s.calls, s.rows, s.total_exec_time AS total_ms
     FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
     WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
    [database],
  );
  return {
    at: Number(row.at),
    xactCommit: Number(row.xact_commit),
    xactRollback: Number(row.xact_rollback),
    evicted: Number(row.dealloc),
    statements: new Map(
      statements.rows.map((s) => [s.key, { key: s.key, role: s.role, query: s.query, calls: Number(s.calls), rows: Number(s.rows), totalMs: s.total_ms }]),
    ),
  };
}

export function difference(before: StatsSnapshot, after: StatsSnapshot): StatsDelta {
  const statements: StatementCounters[] = [];
  for (const [key, now] of after.statements) {
    const then = before.statements.get(key);
    const calls = now.calls - (then?.calls ?? 0);
    if (calls > 0) statements.push({ ...now, calls, rows: now.rows - (then?.rows ?? 0), totalMs: now.totalMs - (then?.totalMs ?? 0) });
  }
  statements.sort((a, b) => b.calls - a.calls);
  return {
    seconds: (after.at - before.at) / 1000,
    xactCommit: after.xactCommit - before.xactCommit,
    xactRollback: after.xactRollback - before.xactRollback,
    evicted: after.evicted - before.evicted,
    statements,
  };
}

/** The harness's own statements against the run's database (its observer role): each one a transaction of its own. */
export function observerCalls(delta: StatsDelta): number {
  return delta.statements.filter((s) => s.role === OBSERVER).reduce((sum, s) => sum + s.calls, 0);
}

/** The daemons' connections to the run's database running a statement right now, and all of them. */
export async function connectionsInUse(client: pg.Client, database: string): Promise<{ active: number; total: number }> {
  const r = await client.query<{ active: number; total: number }>(
    `SELECT count(*) FILTER (WHERE state <> 'idle')::int AS active, count(*)::int AS total
     FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND backend_type = 'client backend'`,
    [database, DAEMON_ROLE],
  );
  return r.rows[0] ?? { active: 0, total: 0 };
}
