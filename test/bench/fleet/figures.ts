// The named figures of the fleet benchmark, each with the target it is compared against (if it
// has one) and how it was measured. Names: `tx_per_task.<backend>.<mode>` and the like carry
// their backend; the others are of the first backend run (postgres unless --backends says
// otherwise) and get `.<backend>` for another. Every figure is of the first daemon count run (one
// unless --daemons says otherwise) and gets `.<n>_daemons` for another. A figure a run did not
// measure is still listed, with value null and the reason.
import { percentile } from '../figures.js';
import type { Attribution } from './attribution.js';
import type { BackendName, FleetOptions } from './options.js';
import { MODES, type Recycle } from './plan.js';
import type { RunResult } from './run.js';

export interface Target {
  op: '<=' | '<';
  value: number;
}

export interface FleetFigure {
  name: string;
  /** null: not measured (see detail). */
  value: number | null;
  unit: string;
  target?: Target;
  detail: string;
  run: string;
}

const TX_TARGETS: Record<BackendName, Record<Recycle, number>> = { redis: { reimage: 6, delete: 10 }, postgres: { reimage: 12, delete: 16 } };
const BACKGROUND_TARGET: Target = { op: '<=', value: 5 };
const RSS_TARGET: Target = { op: '<', value: 200 };

export function meets(figure: FleetFigure): boolean | null {
  if (!figure.target || figure.value === null) return null;
  return figure.target.op === '<=' ? figure.value <= figure.target.value : figure.value < figure.target.value;
}

export function figuresOf(results: readonly RunResult[], options: FleetOptions): FleetFigure[] {
  return results.flatMap((r) => runFigures(r, options));
}

function runFigures(r: RunResult, options: FleetOptions): FleetFigure[] {
  const b = r.plan.backend;
  const ds = r.plan.daemons === options.daemonCounts[0] ? '' : `.${r.plan.daemons}_daemons`;
  const bs = b === options.backends[0] ? '' : `.${b}`;
  const why = (what: string) => (r.failure ? `not measured: the run's ${r.failure.phase} failed (${r.failure.error.split('\n')[0]})` : `not measured: ${what}`);
  const figure = (name: string, value: number | null | undefined, unit: string, detail: string, target?: Target): FleetFigure => {
    const measured = value !== undefined && value !== null && Number.isFinite(value);
    return { name, value: measured ? value : null, unit, ...(target ? { target } : {}), detail: measured ? detail : why(detail), run: r.plan.label };
  };
  const out: FleetFigure[] = [];
  const idle = r.warm?.idle;
  // Statements, not xact_commit: the idle window starts right after warming, whose last
  // commits PostgreSQL may still be reporting; statements are counted as they run.
  const idleQps = idle ? idle.attribution.statements / idle.seconds : Number.NaN;

  for (const mode of MODES) {
    const w = r.windows[mode];
    const per = (n: number | undefined) => (w && w.completed > 0 && n !== undefined ? n / w.completed : null);
    const base = w
      ? `${w.completed} of ${w.tasks} tasks completed (${w.unsuccessful} otherwise) in a ${w.seconds.toFixed(0)} s closed window where only the ${mode} pools ran tasks (${w.perSecond.toFixed(1)}/s wanted, ${fmt(w.tasks / Math.max(1, w.submittedOverS))}/s submitted); ` +
        `xact_commit rose ${w.delta.xactCommit}, less ${w.attribution.harnessStatements} of the harness's own reads = ${w.attribution.transactions}; ` +
        `the fleet at rest sends ${fmt(idleQps)} statements/s (idle baseline), ${fmt((idleQps * w.seconds) / Math.max(1, w.completed))} per task of this window; ` +
        `per task: queue ${fmt(per(w.attribution.queueTransactions))}, sim_cloud ${fmt(per(w.attribution.simTransactions))}, sandfleet ${fmt(per(w.attribution.transactions - w.attribution.queueTransactions - w.attribution.simTransactions))}` +
        (w.delta.evicted ? `; WARNING: pg_stat_statements evicted ${w.delta.evicted} entries in the window` : '')
      : `the ${mode} window did not run`;
    out.push(figure(`tx_per_task.${b}.${mode}${ds}`, per(w?.attribution.transactions), 'tx/task', base, { op: '<=', value: TX_TARGETS[b][mode] }));
    if (b === 'postgres') {
      out.push(figure(`tx_per_task.postgres.${mode}.queue${ds}`, per(w?.attribution.queueTransactions), 'tx/task', w ? `statements touching schema bullmq (pg_stat_statements calls; each is a transaction of its own) in the ${mode} window, per completed task` : `the ${mode} window did not run`));
    }
    out.push(figure(`sim_cloud_tx_per_task.${b}.${mode}${ds}`, per(w?.attribution.simTransactions), 'tx/task', w ? `statements touching schema sim_cloud (each a transaction of its own) in the ${mode} window, per completed task` : `the ${mode} window did not run`));
  }

  const windows = MODES.flatMap((m) => (r.windows[m] ? [r.windows[m]] : []));
  const completed = windows.reduce((n, w) => n + w.completed, 0);
  const statements = windows.reduce((n, w) => n + w.attribution.statements, 0);
  out.push(
    figure(
      `statements_per_task.${b}${ds}`,
      windows.length === MODES.length && completed > 0 ? statements / completed : null,
      'stmts/task',
      windows.length === MODES.length ? `pg_stat_statements calls of the daemons' role over both closed windows (${statements} statements, ${completed} completed tasks): ${breakdown(windows.map((w) => w.attribution), completed)}` : 'both closed windows are needed',
    ),
  );

  const bg = r.burst?.background;
  const bgOk = bg && 'attribution' in bg ? bg : undefined;
  out.push(
    figure(
      `background_qps_per_1k_running${bs}${ds}`,
      bgOk ? bgOk.attribution.statements / bgOk.seconds / (bgOk.running / 1000) : null,
      'qps/1k running',
      bgOk
        ? `${bgOk.attribution.statements} statements of the daemons in ${bgOk.seconds.toFixed(1)} s with ${bgOk.running} tasks running (the burst's), nothing submitted and nothing finished (${bgOk.finishedInWindow}); ${fmt(bgOk.attribution.transactions / bgOk.seconds)} tx/s; ${fmt(bgOk.connections.meanActive)} of the daemons' ${bgOk.connections.total} connections busy on average; at rest with nothing running the fleet sends ${fmt(idleQps)} statements/s`
        : bg && 'reason' in bg
          ? bg.reason
          : 'the burst did not run',
      BACKGROUND_TARGET,
    ),
  );

  const s = r.steady;
  const sorted = s ? [...s.latencies].sort((x, y) => x - y) : [];
  const steadyHow = s
    ? `${s.latencies.length} tasks submitted over REST in the ${s.seconds.toFixed(0)} s steady window (${s.perSecond.toFixed(1)}/s wanted, ${fmt(s.latencies.length / s.seconds)}/s accepted) after a ${s.rampS.toFixed(0)} s ramp (mean ${s.running.toFixed(0)} running of ${r.plan.machines.toLocaleString('en-US')} machines; the daemons had ${fmt(s.connections.meanActive)} of their ${s.connections.total} connections busy on average, ${s.connections.maxActive} at most); tasks.started_at − tasks.created_at` +
      (s.notStarted ? `; LOWER BOUND: ${s.notStarted} had not started when the harness stopped waiting and count with their wait so far` : '') +
      (s.squeezed.length ? `; cut short: ${s.squeezed.join(', ')}` : '')
    : 'the steady phase did not run';
  out.push(figure(`submit_to_start_p50_ms${bs}${ds}`, s && sorted.length ? percentile(sorted, 50) : null, 'ms', steadyHow));
  out.push(figure(`submit_to_start_p99_ms${bs}${ds}`, s && sorted.length ? percentile(sorted, 99) : null, 'ms', steadyHow));
  out.push(
    figure(
      `daemon_rss_mib${bs}${ds}`,
      s ? Math.max(...s.daemons.map((d) => d.rssMiB)) : null,
      'MiB',
      s ? `VmRSS from /proc, median of 1 s samples over the steady window, the largest of ${s.daemons.length} daemon(s): ${s.daemons.map((d) => `${d.rssMiB.toFixed(0)} (peak ${d.peakMiB.toFixed(0)})`).join(', ')} MiB` : 'the steady phase did not run',
      RSS_TARGET,
    ),
  );
  out.push(
    figure(
      `daemon_cpu_pct${bs}${ds}`,
      s ? s.daemons.reduce((n, d) => n + d.cpuPct, 0) / s.daemons.length : null,
      '% of a core',
      s ? `utime+stime from /proc/<pid>/stat over the steady window, mean per daemon (${s.daemons.map((d) => d.cpuPct.toFixed(0)).join(', ')}%; ${s.daemons.reduce((n, d) => n + d.cpuPct, 0).toFixed(0)}% in all)` : 'the steady phase did not run',
    ),
  );
  out.push(
    figure(
      `postgres_cpu_pct${bs}${ds}`,
      s?.postgresCpuPct,
      '% of a core',
      s ? `utime+stime of the run's PostgreSQL cluster (postmaster, its live children, and cutime+cstime of the children that exited) over the steady window; ${fmt(s.attribution.statements / s.seconds)} statements/s, ${fmt(s.attribution.transactions / s.seconds)} tx/s` : 'the steady phase did not run',
    ),
  );

  const burst = r.burst;
  const burstSorted = burst ? [...burst.latencies].sort((x, y) => x - y) : [];
  const burstHow = burst ? `${burst.tasks} submissions at once over REST (100 in flight; all sent in ${burst.submitS.toFixed(1)} s) from a fleet at rest; tasks.started_at − tasks.created_at` : 'the burst did not run';
  out.push(figure(`burst_submit_to_start_p50_ms${bs}${ds}`, burstSorted.length ? percentile(burstSorted, 50) : null, 'ms', burstHow));
  out.push(figure(`burst_submit_to_start_p99_ms${bs}${ds}`, burstSorted.length ? percentile(burstSorted, 99) : null, 'ms', burstHow));
  out.push(figure(`burst_all_started_s${bs}${ds}`, burst?.allStartedS, 's', burst ? 'from the burst\'s first submission (created_at) to its last start (started_at)' : 'the burst did not run'));
  out.push(figure(`warm_s${bs}${ds}`, r.warm?.seconds, 's', `from spawning the daemons (empty database) to all ${r.plan.machines.toLocaleString('en-US')} machines ready (machine_concurrency ${r.plan.machineConcurrency} per daemon, sim boot 1.5 s)`));
  out.push(
    figure(
      `idle_qps${bs}${ds}`,
      idle ? idleQps : null,
      'qps',
      idle
        ? `statements of the daemons per second over ${idle.seconds.toFixed(0)} s with every machine ready and nothing running or queued (${breakdown([idle.attribution], 1)} in all); the reconciler reads every machine and instance every 30 s, so a window shorter than 60 s holds one pass or none`
        : 'warming did not finish',
    ),
  );
  return out;
}

function breakdown(attributions: readonly Attribution[], per: number): string {
  const sum = (k: keyof Attribution['statementsBy']) => attributions.reduce((n, a) => n + a.statementsBy[k], 0) / per;
  return `sandfleet ${fmt(sum('app'))}, BEGIN/COMMIT ${fmt(sum('transaction'))}, queue ${fmt(sum('queue'))}, sim_cloud ${fmt(sum('sim_cloud'))}`;
}

function fmt(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return 'n/a';
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}
