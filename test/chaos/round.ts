// One round: a steady stream of submissions, one fault at a random moment, then the stream
// stops and the round waits for every accepted task to end and runs the invariant checker.
import { sql } from 'drizzle-orm';
import type { PoolRow } from '../../src/db/index.js';
import { checkSystem, type SystemViolation } from '../../src/scheduler/check.js';
import type { Provider } from '../../src/providers/types.js';
import { TIMING } from './daemons.js';
import type { ChaosEnv, Scenario } from './scenarios.js';
import { Submitter } from './submitter.js';

export interface RoundResult {
  fault: string;
  accepted: number;
  /** Accepted, yet not in the tasks table. */
  lost: string[];
  /** Accepted, and not ended within the settle deadline. */
  stuck: string[];
  unanswered: number;
  violations: SystemViolation[];
}

const TERMINAL = ['completed', 'failed', 'timed_out', 'canceled'];
const SETTLE_MS = 180_000;

export async function runRound(env: ChaosEnv, scenario: Scenario, context: { token: string; pools: string[]; providerFor: (pool: PoolRow) => Provider; random: () => number }): Promise<RoundResult> {
  const submitter = new Submitter(env.daemons, context.token, context.pools, 8);
  submitter.start();
  // The fault strikes at a random moment of the stream, not at a quiet point.
  await new Promise((r) => setTimeout(r, 500 + context.random() * 2500));
  const fault = await scenario.inject(env, context.random);
  await new Promise((r) => setTimeout(r, 1000));
  await submitter.stop();
  const { lost, stuck } = await settle(env, submitter.accepted);
  const report = await checkSystem({
    db: env.database.db,
    providerFor: context.providerFor,
    deadlineGraceS: TIMING.deadline_grace_s,
    // Leaks are judged at the end of the run, once the reconciler has had its grace.
    orphanGraceS: 3600,
  });
  return { fault, accepted: submitter.accepted.length, lost, stuck, unanswered: submitter.unanswered, violations: report.violations };
}

/** Waits until every accepted task has ended (or the deadline passed); names the rest. */
async function settle(env: ChaosEnv, ids: string[]): Promise<{ lost: string[]; stuck: string[] }> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const rows = (await env.database.db.execute(sql`SELECT id::text, state FROM tasks WHERE id = ANY(${sql.param(ids)}::uuid[])`)).rows as { id: string; state: string }[];
    const found = new Map(rows.map((r) => [r.id, r.state]));
    const lost = ids.filter((id) => !found.has(id));
    const open = rows.filter((r) => !TERMINAL.includes(r.state)).map((r) => r.id);
    if (open.length === 0 || Date.now() > deadline) return { lost, stuck: open };
    await new Promise((r) => setTimeout(r, 250));
  }
}
