// The simulated twin of a real-time replay: the same trace, pool shape, policies, supervision tick
// and readiness poll (trace seconds), boots as fixed as the sim provider's, run in the simulator;
// then each policy's figures from both, side by side, with the simulator's deviation. This is how
// the simulator is validated against the real system.
import { forecastPolicy } from '../../../src/scheduler/policies/forecast.js';
import { leakyBucketPolicy } from '../../../src/scheduler/policies/leaky-bucket.js';
import { compare, SIMULATED_KINDS, type CompareRow, type PolicyEntry, type SimulatedKind } from './compare.js';
import type { PolicyFigures } from './measure.js';
import type { PolicyName, PoolKind, PoolShape } from './replay.js';
import type { Trace } from './trace.js';

export interface TwinOptions {
  trace: Trace;
  kinds: readonly PoolKind[];
  pool: PoolShape;
  leaky: { intervalS: number; overprovision: number };
  tickS: number;
  pollS: number;
  seed: number;
  /** The replay's measured window per pool kind: the twin counts machine time up to it, as the replay does. */
  windowS?: Partial<Record<SimulatedKind['kind'], number>>;
}

/** The windows the replay measured, per pool kind. */
export function replayWindows(figures: readonly PolicyFigures[]): Partial<Record<SimulatedKind['kind'], number>> {
  return Object.fromEntries(figures.map((f) => [f.pool.kind.kind, f.windowS]));
}

const POLICIES: Record<PolicyName, (leaky: TwinOptions['leaky']) => PolicyEntry> = {
  sandfleet: () => ({ name: 'sandfleet', make: () => forecastPolicy() }),
  'leaky-bucket': (leaky) => ({ name: 'leaky-bucket', make: () => leakyBucketPolicy(leaky) }),
};

export function simulateTwin(options: TwinOptions): CompareRow[] {
  const kinds = options.kinds.map((k): SimulatedKind => {
    if (k.kind !== 'ec2' && k.kind !== 'azure') throw new Error(`no simulated twin for pool kind ${k.kind}`);
    return { kind: k.kind, bootS: k.bootS, pricePerHour: SIMULATED_KINDS.find((known) => known.kind === k.kind)!.pricePerHour };
  });
  return compare({
    workloads: [{ name: 'synthetic', tasks: options.trace.tasks.map((t) => ({ at: t.at, runS: t.runS })), hours: options.trace.hours }],
    kinds,
    policies: Object.values(POLICIES).map((entry) => entry(options.leaky)),
    // The sim provider's delays are fixed: no jitter.
    pool: { ...options.pool, jitter: 0 },
    tickS: options.tickS,
    pollS: options.pollS,
    seed: options.seed,
    ...(options.windowS ? { countUntilS: options.windowS } : {}),
  });
}

/** One markdown table per pool kind: the replay's figures, the twin's, and how far the twin is off. */
export function renderTwin(replayed: readonly PolicyFigures[], twin: readonly CompareRow[]): string {
  const lines: string[] = [];
  const off = (simulated: number, real: number) => (real === 0 ? (simulated === 0 ? '0 %' : '–') : `${(((simulated - real) / real) * 100).toFixed(1)} %`);
  for (const kind of [...new Set(twin.map((r) => r.kind))]) {
    lines.push(`### simulated twin, ${kind}-like pool`, '', '| policy | machine-minutes replay / sim | off | p50 wait replay / sim | p95 wait replay / sim | off |', '|---|---:|---:|---:|---:|---:|');
    for (const sim of twin.filter((r) => r.kind === kind)) {
      const real = replayed.find((f) => f.pool.kind.kind === kind && f.pool.policy === sim.policy);
      if (!real) continue;
      lines.push(
        `| ${sim.policy} | ${Math.round(real.machineMinutes)} / ${Math.round(sim.machineMinutes)} | ${off(sim.machineMinutes, real.machineMinutes)} | ${Math.round(real.waitsS.p50)} / ${Math.round(sim.waits.p50)} s | ${Math.round(real.waitsS.p95)} / ${Math.round(sim.waits.p95)} s | ${off(sim.waits.p95, real.waitsS.p95)} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
