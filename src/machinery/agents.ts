// What agent pools need of the tables: the key that signs machine credentials, a machine's
// current lease as its agent sees it, batched heartbeats, and the leases whose agent went quiet.
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Executor } from '../db/database.js';
import { agentKeys, machines, tasks, type MachineRow, type TaskRow } from '../db/schema.js';
import { TASK_ACTIVE_STATES } from '../db/states.js';
import { machineEntity, taskEntity } from './transition.js';

const MACHINE_KEY = 'machine';

/** The signing key for machine credentials: created once by whoever asks first (an upsert, rule 3). */
export async function agentSigningKey(ex: Executor): Promise<string> {
  const result = await ex.execute(sql`
    WITH created AS (
      INSERT INTO ${agentKeys} (id, key) VALUES (${MACHINE_KEY}, ${randomBytes(32).toString('hex')})
      ON CONFLICT (id) DO NOTHING RETURNING key
    )
    SELECT key FROM created UNION ALL SELECT key FROM ${agentKeys} WHERE id = ${MACHINE_KEY}`);
  const key = result.rows[0]?.key;
  if (typeof key !== 'string') throw new Error('the agent signing key could not be read');
  return key;
}

/** Machine states in which an agent's credential works: its instance is meant to exist and serve. */
export const AGENT_LIVE_STATES = ['booting', 'ready', 'leased', 'stopping', 'stopped', 'released', 'reimaging'] as const;

/** Of these machines, those whose credential works and that hold no lease: one statement for any number. */
export async function idleAgentMachines(ex: Executor, machineIds: readonly string[]): Promise<Set<string>> {
  const result = await ex.execute(sql`
    SELECT id FROM ${machines}
    WHERE id = ANY(${sql.param([...machineIds])}::uuid[]) AND state = ANY(${sql.param(AGENT_LIVE_STATES.filter((s) => s !== 'leased'))}::text[])`);
  return new Set(result.rows.map((r) => String(r.id)));
}

export interface AgentView {
  machine: MachineRow;
  /** The task the machine is leased to, when it is (assigned or running). */
  task: TaskRow | null;
}

/** A machine and the task it holds, in one query; null when the machine row is gone. */
export async function machineWithLease(ex: Executor, machineId: string): Promise<AgentView | null> {
  const result = await ex.execute(sql`
    SELECT row_to_json(m) AS machine, row_to_json(t) AS task
    FROM ${machines} m LEFT JOIN ${tasks} t ON t.id = m.task_id AND t.machine_id = m.id AND t.state = ANY(${sql.param([...TASK_ACTIVE_STATES])}::text[])
    WHERE m.id = ${machineId}`);
  const row = result.rows[0];
  if (!row) return null;
  return { machine: machineEntity.map(row.machine as Record<string, unknown>), task: row.task ? taskEntity.map(row.task as Record<string, unknown>) : null };
}

/**
 * Heartbeats of many leases in one statement: answers which of them are still running on their
 * machine. A lease's `heartbeat_at` is written only when older than `refreshS`, so a busy agent
 * costs a row write per refresh interval, not per beat.
 */
export async function touchHeartbeats(ex: Executor, leases: readonly { taskId: string; machineId: string }[], refreshS: number): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const result = await ex.execute(sql`
    WITH beat AS (
      SELECT * FROM unnest(${sql.param(leases.map((l) => l.taskId))}::uuid[], ${sql.param(leases.map((l) => l.machineId))}::uuid[]) AS b(task_id, machine_id)
    ), live AS (
      SELECT t.id, t.heartbeat_at FROM ${tasks} t JOIN beat b ON b.task_id = t.id AND b.machine_id = t.machine_id
      JOIN ${machines} m ON m.id = t.machine_id AND m.task_id = t.id AND m.state = 'leased'
      WHERE t.state = 'running'
    ), touched AS (
      UPDATE ${tasks} t SET heartbeat_at = now() FROM live
      WHERE t.id = live.id AND (live.heartbeat_at IS NULL OR live.heartbeat_at < now() - ${refreshS} * interval '1 second')
    )
    SELECT id FROM live`);
  return new Set(result.rows.map((r) => String(r.id)));
}
