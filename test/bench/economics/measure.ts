// Reads a finished replay back from the database (the tables and the append-only events), in
// trace units: machine-minutes from each machine's provisioning request to its deletion (or to
// the end of the window), task waits from created_at to started_at, and the oracle for the
// same start times.
import { sql } from 'drizzle-orm';
import type { Db } from '../../../src/db/index.js';
import { percentile } from '../figures.js';
import { oracle, type OracleResult } from './oracle.js';
import type { BenchPool, PoolShape, ReplayRun } from './replay.js';

export interface PolicyFigures {
  pool: BenchPool;
  machineMinutes: number;
  oracle: OracleResult;
  /**
   * The same oracle on this run's own timings: each task's realized start → finish, and the
   * pool's mean realized boot, reimage and teardown. What a clairvoyant policy would have needed
   * on this (slower than nominal) system: machine-minutes over it are the policy's own waste.
   */
  oracleRealized: OracleResult;
  waitsS: { p50: number; p95: number; max: number; mean: number };
  completed: number;
  total: number;
  machinesCreated: number;
  peakMachines: number;
  /** Realized provisioning request → ready, and reimage → ready (trace seconds, mean). */
  bootS: number;
  reimageS: number;
  /** started → finished beyond the nominal run time (trace seconds, mean): the system's own overhead per task. */
  runOverheadS: number;
  /** How late the replay submitted tasks (trace seconds): how faithful the acceleration was. */
  submitLagS: { p95: number; max: number };
  windowS: number;
}

export async function measure(db: Db, run: ReplayRun, factor: number, shape: PoolShape, traceHours: number): Promise<PolicyFigures[]> {
  const toS = (at: Date | string) => ((new Date(at).getTime() - run.t0) * factor) / 1000;
  const figures: PolicyFigures[] = [];
  // One window per pool kind: from 0 to the end of the trace or the last task's end in either policy's pool, whichever is later.
  const windowByKind = new Map<string, number>();
  for (const p of run.pools) {
    const last = (await db.execute(sql`SELECT max(finished_at) AS at FROM tasks WHERE pool = ${p.name}`)).rows[0]?.at;
    const end = Math.max(traceHours * 3600, last ? toS(last as Date) : 0);
    windowByKind.set(p.kind.kind, Math.max(windowByKind.get(p.kind.kind) ?? 0, end));
  }

  for (const p of run.pools) {
    const windowS = windowByKind.get(p.kind.kind)!;
    const events = await db.execute(sql`SELECT entity_id, from_state, to_state, at FROM events WHERE entity = 'machine' AND pool = ${p.name} ORDER BY entity_id, id`);
    const spans: { born: number; gone: number }[] = [];
    const boots: number[] = [];
    const reimages: number[] = [];
    const teardowns: number[] = [];
    let current: { id: string; born: number; gone: number | null; reimagingAt: number | null; releasedAt: number | null; ready: boolean } | undefined;
    const close = () => {
      if (current) spans.push({ born: current.born, gone: current.gone ?? Number.POSITIVE_INFINITY });
    };
    for (const e of events.rows) {
      const id = String(e.entity_id);
      const at = toS(e.at as Date);
      if (current?.id !== id) {
        close();
        current = { id, born: at, gone: null, reimagingAt: null, releasedAt: null, ready: false };
      }
      if (e.to_state === 'ready') {
        if (!current.ready) boots.push(at - current.born);
        else if (current.reimagingAt !== null) reimages.push(at - current.reimagingAt);
        current.ready = true;
        current.reimagingAt = null;
      } else if (e.to_state === 'reimaging') current.reimagingAt = at;
      else if (e.to_state === 'released') current.releasedAt = at;
      else if (e.to_state === 'deleted') {
        current.gone = at;
        if (current.releasedAt !== null) teardowns.push(at - current.releasedAt);
      }
    }
    close();
    let machineSeconds = 0;
    const edges: [number, number][] = [];
    for (const s of spans) {
      const from = Math.max(0, s.born);
      const to = Math.min(windowS, s.gone);
      if (to > from) {
        machineSeconds += to - from;
        edges.push([from, 1], [to, -1]);
      }
    }
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let live = 0;
    let peak = 0;
    for (const [, d] of edges) peak = Math.max(peak, (live += d));

    const tasks = await db.execute(sql`SELECT state, created_at, started_at, assigned_at, finished_at, payload FROM tasks WHERE pool = ${p.name}`);
    const waits: number[] = [];
    const lags: number[] = [];
    const started: { startS: number; runS: number }[] = [];
    const realized: { startS: number; runS: number }[] = [];
    const overheads: number[] = [];
    let completed = 0;
    for (const t of tasks.rows) {
      const traceInfo = (t.payload as { trace?: { at: number; runS: number } }).trace;
      const created = toS(t.created_at as Date);
      if (traceInfo) lags.push(created - traceInfo.at);
      if (t.state === 'completed') completed++;
      const startedAt = (t.started_at ?? t.assigned_at) as Date | null;
      if (!startedAt) continue;
      waits.push(toS(startedAt) - created);
      if (traceInfo) started.push({ startS: toS(startedAt), runS: traceInfo.runS });
      if (traceInfo && t.finished_at) overheads.push(toS(t.finished_at as Date) - toS(startedAt) - traceInfo.runS);
      if (t.finished_at) realized.push({ startS: toS(startedAt), runS: toS(t.finished_at as Date) - toS(startedAt) });
    }
    waits.sort((a, b) => a - b);
    lags.sort((a, b) => a - b);
    const recycleDelete = shape.recycle === 'delete';
    const maxUses = recycleDelete ? 1 : shape.maxUses;
    const realizedBoot = boots.length ? mean(boots) : p.kind.bootS;
    figures.push({
      pool: p,
      machineMinutes: machineSeconds / 60,
      oracle: oracle(started, {
        bootS: p.kind.bootS,
        // sandfleet reimages after every task (the sim's reimage takes the boot delay), or deletes the machine.
        resetS: p.kind.bootS,
        teardownS: shape.terminateS,
        maxUses,
      }),
      oracleRealized: oracle(realized, {
        bootS: realizedBoot,
        resetS: reimages.length ? mean(reimages) : realizedBoot,
        teardownS: teardowns.length ? mean(teardowns) : shape.terminateS,
        maxUses,
      }),
      waitsS: { p50: percentile(waits, 50), p95: percentile(waits, 95), max: waits.at(-1) ?? Number.NaN, mean: waits.reduce((a, b) => a + b, 0) / Math.max(1, waits.length) },
      completed,
      total: tasks.rows.length,
      machinesCreated: spans.length,
      peakMachines: peak,
      bootS: mean(boots),
      reimageS: mean(reimages),
      runOverheadS: mean(overheads),
      submitLagS: { p95: percentile(lags, 95), max: lags.at(-1) ?? Number.NaN },
      windowS,
    });
  }
  return figures;
}

function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
