// What an agent on a machine (or an external worker holding the machine's credential) does
// over REST: wait for the machine's lease and start it, beat while it runs, report its verdict.
// Every write is the same conditional transition the in-process runners use; a call about a
// lease that has ended changes nothing and says so.
import type { Db } from '../../db/database.js';
import type { TaskRow } from '../../db/schema.js';
import { finishTask, machineWithLease, rowOf, startTask, type AgentView } from '../../machinery/index.js';
import type { JobSink, MachineJob } from '../queue.js';
import { enqueueMachine } from '../supervisor.js';
import type { HeartbeatBatcher } from './heartbeats.js';
import { forgetOlderThan, type IdleMark, type LeaseNotices } from './lease-notices.js';

export interface AgentContext {
  db: Db;
  notices: LeaseNotices;
  /** Machines last found unleased, and when: an idle agent's next poll skips the table while nothing was announced. */
  idle: Map<string, IdleMark>;
  heartbeats: HeartbeatBatcher;
  queues: { machines: JobSink<MachineJob> };
  actor: string;
}

/** The credential names a machine that is gone or on its way out: it no longer works. */
export class CredentialExpired extends Error {
  override readonly name = 'CredentialExpired';
}

/** The lease the call names has ended (canceled, timed out, lost, finished): nothing was changed. */
export class LeaseEnded extends Error {
  override readonly name = 'LeaseEnded';
  constructor(readonly taskId: string) {
    super(`the lease of task ${taskId} has ended on this machine; stop working on it`);
  }
}

/** A machine whose credential still works: any state in which its instance is meant to exist and serve. */
const LIVE_STATES = new Set(['booting', 'ready', 'leased', 'stopping', 'stopped', 'released', 'reimaging']);

/**
 * The machine's lease, started: waits up to `waitMs` for one. A running lease is handed back
 * again (an agent that restarted); null when none came within the wait.
 */
export async function nextLease(ctx: AgentContext, machineId: string, waitMs: number): Promise<TaskRow | null> {
  const notice = ctx.notices.waitFor(machineId, waitMs);
  try {
    // An idle agent polling again costs no query while this process has heard no lease of its
    // machine since it last looked (the table is asked again at least every IDLE_RECHECK_MS, so
    // a machine that went away is noticed).
    const mark = ctx.idle.get(machineId);
    const quiet = mark !== undefined && performance.now() - mark.at < IDLE_RECHECK_MS && ctx.notices.quietSince(machineId, mark);
    if (!quiet) {
      const first = await leaseOf(ctx, machineId);
      if (first !== undefined) return first;
    }
    if (!(await notice.done)) return null;
    return (await leaseOf(ctx, machineId)) ?? null;
  } finally {
    notice.cancel();
  }
}

/** How long an idle machine may go unchecked in the table while no lease of it was announced (under FORGET_AFTER_MS). */
const IDLE_RECHECK_MS = 5 * 60_000;
/** Past this many marks, stale ones are dropped (delete pools never reuse a machine id). */
const MAX_IDLE_MARKS = 50_000;

/** undefined: nothing leased yet. */
async function leaseOf(ctx: AgentContext, machineId: string): Promise<TaskRow | undefined> {
  const mark = ctx.notices.mark();
  const view = await liveMachine(ctx, machineId);
  const task = view.task;
  if (!task || view.machine.state !== 'leased') {
    if (mark) ctx.idle.set(machineId, mark);
    else ctx.idle.delete(machineId);
    if (ctx.idle.size > MAX_IDLE_MARKS) forgetOlderThan(ctx.idle, performance.now() - IDLE_RECHECK_MS);
    return undefined;
  }
  ctx.idle.delete(machineId);
  if (task.state === 'running') return task;
  const started = await startTask(ctx.db, task.id, machineId, { actor: ctx.actor });
  return rowOf(started)?.state === 'running' ? (rowOf(started) ?? undefined) : undefined;
}

async function liveMachine(ctx: AgentContext, machineId: string): Promise<AgentView> {
  const view = await machineWithLease(ctx.db, machineId);
  if (!view || !LIVE_STATES.has(view.machine.state)) throw new CredentialExpired(`machine ${machineId} is ${view?.machine.state ?? 'gone'}: its credential no longer works`);
  return view;
}

export async function heartbeat(ctx: AgentContext, machineId: string, taskId: string): Promise<void> {
  if (!(await ctx.heartbeats.beat(taskId, machineId))) {
    await liveMachine(ctx, machineId);
    throw new LeaseEnded(taskId);
  }
}

export type AgentVerdict = { outcome: 'completed'; result: unknown } | { outcome: 'failed'; error: string };

/** Records the agent's verdict and starts the machine's teardown (stop → release → recycle). */
export async function finish(ctx: AgentContext, machineId: string, taskId: string, verdict: AgentVerdict): Promise<TaskRow | null> {
  const finished = await finishTask(ctx.db, { machineId, taskId }, verdict.outcome === 'completed' ? verdict : { outcome: 'failed', error: verdict.error }, { actor: ctx.actor });
  if (!finished.machine.ok) {
    await liveMachine(ctx, machineId);
    throw new LeaseEnded(taskId);
  }
  await enqueueMachine(ctx, 'resume', machineId, finished.machine.row.version);
  return finished.task;
}
