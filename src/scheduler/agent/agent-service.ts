// What an agent on a machine (or an external worker holding the machine's credential) does
// over REST: wait for the machine's lease and start it, beat while it runs, report its verdict.
// Every write is the same conditional transition the in-process runners use; a call about a
// lease that has ended changes nothing and says so.
import type { Db } from '../../db/database.js';
import type { TaskRow } from '../../db/schema.js';
import { AGENT_LIVE_STATES, finishTask, machineWithLease, rowOf, startTask, type AgentView } from '../../machinery/index.js';
import type { JobSink, MachineJob } from '../queue.js';
import { enqueueMachine } from '../supervisor.js';
import type { HeartbeatBatcher } from './heartbeats.js';
import type { IdleMarks } from './idle-marks.js';
import type { LeaseNotices } from './lease-notices.js';

export interface AgentContext {
  db: Db;
  notices: LeaseNotices;
  /** Machines last found unleased: an idle agent's next poll skips the table while nothing was announced. */
  idle: IdleMarks;
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

const LIVE_STATES = new Set<string>(AGENT_LIVE_STATES);

/**
 * The machine's lease, started: waits up to `waitMs` for one. A running lease is handed back
 * again (an agent that restarted); null when none came within the wait.
 */
export async function nextLease(ctx: AgentContext, machineId: string, waitMs: number): Promise<TaskRow | null> {
  const notice = ctx.notices.waitFor(machineId, waitMs);
  try {
    // An idle agent polling again costs no query while this process has heard no lease of its
    // machine since it was last found idle (IdleMarks renews that for all machines at once, and
    // forgets a machine that went away, so its agent is told).
    if (!ctx.idle.quiet(machineId)) {
      const first = await leaseOf(ctx, machineId);
      if (first !== undefined) return first;
    }
    if (!(await notice.done)) return null;
    return (await leaseOf(ctx, machineId)) ?? null;
  } finally {
    notice.cancel();
  }
}

/** undefined: nothing leased yet. */
async function leaseOf(ctx: AgentContext, machineId: string): Promise<TaskRow | undefined> {
  const mark = ctx.notices.mark();
  const view = await liveMachine(ctx, machineId);
  const task = view.task;
  if (!task || view.machine.state !== 'leased') {
    ctx.idle.found(machineId, mark);
    return undefined;
  }
  ctx.idle.forget(machineId);
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
