// Who spent a window's statements and transactions: the queue (BullMQ's PostgreSQL backend, in
// schema `bullmq`), the simulated cloud (schema `sim_cloud`), or sandfleet's own tables. The
// rules are data (RULES below) so they are easy to adjust when the sim cloud moves to its own
// database or the queue changes schema.
//
// A statement touches a schema when its text names an object of that schema: schema-qualified
// (`sim_cloud.instances`, `"sim_cloud"."instances"`, as drizzle writes) or unqualified through
// the search_path (BullMQ's SQL says `job`, `meta`, `move_to_active(...)`). The unqualified
// names are read from the run's catalog: every table, view, sequence and function of the schema
// whose name no other schema of the run has, so the classifier follows the queue's migrations.
//
// Transactions: pg_stat_database counts commits but not whose they are. The queue and the sim
// cloud send every statement outside an explicit transaction (BullMQ's backend runs each command
// as one statement on a pooled connection; the sim provider writes through the pool, not a
// transaction), so each of their statements is a transaction of its own; sandfleet's share is
// the rest: committed transactions minus those. If that assumption breaks (a queue statement
// inside BEGIN … COMMIT), the queue's share is over-counted, never hidden.
import type pg from 'pg';
import { observerCalls, type StatementCounters, type StatsDelta } from './pg-stats.js';
import { DAEMON_ROLE } from './postgres.js';

export type Category = 'queue' | 'sim_cloud' | 'transaction' | 'app';

interface Rule {
  category: Exclude<Category, 'app'>;
  /** A schema whose objects mark the statement, or null for a pattern-only rule. */
  schema: string | null;
  /** Matches the statement text directly (channels, transaction control). */
  pattern?: RegExp;
}

/** First match wins; a statement no rule matches is sandfleet's own (`app`). */
const RULES: readonly Rule[] = [
  { category: 'transaction', schema: null, pattern: /^\s*(begin|commit|rollback|start transaction|savepoint|release savepoint|end)\b/i },
  // BullMQ's LISTEN channels are not catalog objects.
  { category: 'queue', schema: 'bullmq', pattern: /\b(un)?listen\s+bullmq_|\bpg_notify\s*\(\s*'bullmq_/i },
  { category: 'sim_cloud', schema: 'sim_cloud' },
];

export interface Classifier {
  classify(query: string): Category;
}

/** Builds the classifier from the run database's catalog (connect to that database). */
export async function classifierFor(client: pg.Client): Promise<Classifier> {
  const objects = await client.query<{ schema: string; name: string }>(`
    SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION
    SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    UNION
    SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd')`);
  const schemasOf = new Map<string, Set<string>>();
  for (const o of objects.rows) schemasOf.set(o.name, (schemasOf.get(o.name) ?? new Set()).add(o.schema));
  const matchers = RULES.map((rule) => {
    const names = rule.schema ? [...schemasOf].filter(([, schemas]) => schemas.size === 1 && schemas.has(rule.schema!)).map(([name]) => name) : [];
    const qualified = rule.schema ? new RegExp(`(^|[^\\w"])"?${rule.schema}"?\\s*\\.`, 'i') : null;
    // Longest first so `job_log` is not read as `job`; word boundaries keep `job_id` from matching `job`.
    const unqualified = names.length ? new RegExp(`(^|[^\\w."])"?(${names.sort((a, b) => b.length - a.length).map(escape).join('|')})"?(?![\\w"])`, 'i') : null;
    return { rule, qualified, unqualified };
  });
  return {
    classify(query) {
      const text = stripComments(query);
      for (const { rule, qualified, unqualified } of matchers) {
        if (rule.pattern?.test(text) || qualified?.test(text) || unqualified?.test(text)) return rule.category;
      }
      return 'app';
    },
  };
}

function escape(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** BullMQ's SQL files start with comments that name other objects; only the code counts. */
function stripComments(query: string): string {
  return query.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
}

export interface Attribution {
  /** Committed transactions of the run's database, less the harness's own reads. */
  transactions: number;
  /** Statements the daemons sent (pg_stat_statements calls of their role). */
  statements: number;
  statementsBy: Record<Category, number>;
  /** Each queue and sim_cloud statement is a transaction of its own (see the header). */
  queueTransactions: number;
  simTransactions: number;
  /** Statements the harness sent to the run's database (subtracted from transactions). */
  harnessStatements: number;
}

export function attribute(delta: StatsDelta, classifier: Classifier): Attribution {
  const statementsBy: Record<Category, number> = { queue: 0, sim_cloud: 0, transaction: 0, app: 0 };
  for (const s of daemonStatements(delta)) statementsBy[classifier.classify(s.query)] += s.calls;
  const harness = observerCalls(delta);
  return {
    transactions: delta.xactCommit - harness,
    statements: statementsBy.queue + statementsBy.sim_cloud + statementsBy.transaction + statementsBy.app,
    statementsBy,
    queueTransactions: statementsBy.queue,
    simTransactions: statementsBy.sim_cloud,
    harnessStatements: harness,
  };
}

export function daemonStatements(delta: StatsDelta): StatementCounters[] {
  return delta.statements.filter((s) => s.role === DAEMON_ROLE);
}

export interface RankedStatement extends StatementCounters {
  category: Category;
}

/** The daemons' `count` statements with the most calls, each with its category. */
export function topStatements(delta: StatsDelta, classifier: Classifier, count = 15): RankedStatement[] {
  return daemonStatements(delta)
    .slice(0, count)
    .map((s) => ({ ...s, category: classifier.classify(s.query) }));
}
