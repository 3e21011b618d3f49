// Runs every policy over every workload and pool kind in the simulator and sets each run beside
// the clairvoyant oracle for its own start times: machine-minutes, × oracle, waits, machines
// created. Pure: the same workloads, settings and seed give the same rows.
import type { AutoscalePolicy } from '../../../src/scheduler/policies/policy.js';
import { percentile } from '../figures.js';
import { oracle } from './oracle.js';
import { simulate, type SimulatedPool } from './simulator.js';
import type { Workload } from './trace-file.js';

export interface SimulatedKind {
  kind: 'ec2' | 'azure';
  bootS: number;
  /** What one machine costs per hour, bought on demand and as spot capacity (a pool's `price_per_hour`). */
  pricePerHour: { onDemand: number; spot: number };
}

// Prices per machine-hour, Linux, 2 vCPU / 8 GiB: the on-demand list prices of an EC2 m5.large in
// us-east-1 and an Azure Standard_D2s_v3 in East US; spot prices move by the hour, so the spot
// figures are a typical level (about 35 % and 20 % of on-demand) to replace with --price.
export const SIMULATED_KINDS: readonly SimulatedKind[] = [
  { kind: 'ec2', bootS: 40, pricePerHour: { onDemand: 0.096, spot: 0.035 } },
  { kind: 'azure', bootS: 90, pricePerHour: { onDemand: 0.096, spot: 0.019 } },
];

/** A policy to compare, made afresh for each run (policies keep state per pool). */
export interface PolicyEntry {
  name: string;
  /** The knob setting, for sandfleet's frontier; absent for a baseline. */
  setting?: number;
  make: (kind: SimulatedKind) => AutoscalePolicy;
}

export interface CompareOptions {
  workloads: readonly Workload[];
  kinds: readonly SimulatedKind[];
  policies: readonly PolicyEntry[];
  /** The pool's sizes and rules; boot and reimage come from the kind. */
  pool: Omit<SimulatedPool, 'bootS' | 'reimageS'>;
  tickS: number;
  pollS: number;
  seed: number;
  /** Per pool kind, count machine time only up to this trace second (a replay's window, for its twin). */
  countUntilS?: Partial<Record<SimulatedKind['kind'], number>>;
}

export interface CompareRow {
  trace: string;
  kind: SimulatedKind['kind'];
  policy: string;
  setting?: number;
  machineMinutes: number;
  oracleMinutes: number;
  xOracle: number;
  /** The machine-minutes in money, at the kind's on-demand and spot prices. */
  cost: { onDemand: number; spot: number };
  waits: { p50: number; p95: number; max: number; mean: number };
  machinesCreated: number;
  peakMachines: number;
}

export function compare(options: CompareOptions, onRow: (row: CompareRow) => void = () => {}): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const workload of options.workloads) {
    for (const kind of options.kinds) {
      for (const entry of options.policies) {
        const row = runOne(options, workload, kind, entry);
        onRow(row);
        rows.push(row);
      }
    }
  }
  return rows;
}

function runOne(options: CompareOptions, workload: Workload, kind: SimulatedKind, entry: PolicyEntry): CompareRow {
  const pool: SimulatedPool = { ...options.pool, bootS: kind.bootS, reimageS: kind.bootS };
  const countUntilS = options.countUntilS?.[kind.kind];
  const result = simulate({ tasks: workload.tasks, pool, policy: entry.make(kind), tickS: options.tickS, pollS: options.pollS, seed: options.seed, ...(countUntilS === undefined ? {} : { countUntilS }) });
  const starts = workload.tasks.map((task, i) => ({ startS: task.at + (result.waitsS[i] ?? 0), runS: task.runS }));
  // A reimage pool resets a machine between tasks in a boot's time; a delete pool never reuses one.
  const reuse = options.pool.recycle === 'reimage' ? options.pool.maxUses : 1;
  const best = oracle(starts, { bootS: kind.bootS, resetS: options.pool.stopS + kind.bootS, teardownS: options.pool.terminateS, maxUses: reuse });
  const sorted = [...result.waitsS].sort((a, b) => a - b);
  return {
    trace: workload.name,
    kind: kind.kind,
    policy: entry.name,
    ...(entry.setting === undefined ? {} : { setting: entry.setting }),
    machineMinutes: result.machineMinutes,
    oracleMinutes: best.machineMinutes,
    xOracle: result.machineMinutes / best.machineMinutes,
    cost: { onDemand: (result.machineMinutes / 60) * kind.pricePerHour.onDemand, spot: (result.machineMinutes / 60) * kind.pricePerHour.spot },
    waits: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1) ?? Number.NaN, mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) },
    machinesCreated: result.machinesCreated,
    peakMachines: result.peakMachines,
  };
}

/** The baselines that are at least as good as `row` on both machine-minutes and p95 wait. */
export function dominatedBy(row: CompareRow, baselines: readonly CompareRow[]): string[] {
  return baselines.filter((b) => b.machineMinutes <= row.machineMinutes && b.waits.p95 <= row.waits.p95).map((b) => b.policy);
}
