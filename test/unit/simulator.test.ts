// The economics simulator: the real policies on a virtual clock, with the pool rules the daemon
// enforces; and the trace files it reads, refused line and column when malformed.
import { describe, expect, it } from 'vitest';
import { demandPolicy, keepAlivePolicy, onDemandPolicy } from '../../src/scheduler/policies/demand.js';
import { compare, dominatedBy, type CompareRow } from '../bench/economics/compare.js';
import { simulate, type SimulatedPool } from '../bench/economics/simulator.js';
import { frontierChart } from '../bench/economics/frontier-chart.js';
import { figures } from '../bench/economics/simulate-command.js';
import { parseTrace, TraceFileError } from '../bench/economics/trace-file.js';

const pool: SimulatedPool = { maxSize: 10, minReady: 0, idleTimeoutS: 300, maxUses: null, recycle: 'reimage', bootS: 40, reimageS: 40, stopS: 5, terminateS: 5, jitter: 0 };

describe('simulate', () => {
  it('boots on the tick after an arrival, sees the machine ready at its poll, and drains it idle_timeout_s after it came back', () => {
    const r = simulate({ tasks: [{ at: 10.5, runS: 60 }], pool, policy: demandPolicy(), tickS: 1, pollS: 1, seed: 1 });
    // Created at the tick of 11 s, ready at 51 s: the task waited 40.5 s.
    expect(r.waitsS).toEqual([40.5]);
    // Ran 51-111 s, stopped and reimaged until 156 s, drained at the first tick 300 s later, gone 5 s after: 11 → 461 s.
    expect(r.machineMinutes).toBeCloseTo(450 / 60, 6);
    expect(r.machinesCreated).toBe(1);
    expect(r.windowS).toBeGreaterThanOrEqual(461);
  });

  it('deletes a machine after its last use in a delete pool and replaces it for the next task', () => {
    const r = simulate({ tasks: [{ at: 0, runS: 10 }, { at: 100, runS: 10 }], pool: { ...pool, recycle: 'delete', maxUses: 1 }, policy: demandPolicy(), tickS: 1, pollS: 1, seed: 1 });
    expect(r.machinesCreated).toBe(2);
    expect(r.waitsS).toEqual([40, 40]);
    // Each: 40 s of boot, 10 s of run, 5 s of teardown.
    expect(r.machineMinutes).toBeCloseTo((2 * 55) / 60, 6);
  });

  it("deletes a machine back from a task instead of reimaging it when the plan's keep is already held", () => {
    const keepNone = { name: 'keep-none', plan: (...args: Parameters<ReturnType<typeof demandPolicy>['plan']>) => ({ ...demandPolicy().plan(...args), keep: 0 }) };
    const r = simulate({ tasks: [{ at: 10.5, runS: 60 }], pool, policy: keepNone, tickS: 1, pollS: 1, seed: 1 });
    // Created at 11 s, ran 51-111 s; marked while it stopped (5 s), then deleted (5 s teardown) instead of reimaged and kept idle.
    expect(r.machineMinutes).toBeCloseTo((121 - 11) / 60, 6);
  });

  it('never has more machines than max_size, and serves a burst beyond it from the queue', () => {
    const tasks = Array.from({ length: 12 }, (_, i) => ({ at: i * 0.1, runS: 30 }));
    const r = simulate({ tasks, pool: { ...pool, maxSize: 3 }, policy: demandPolicy(), tickS: 1, pollS: 1, seed: 1 });
    expect(r.peakMachines).toBe(3);
    expect(r.waitsS).toHaveLength(12);
    // Four rounds of three: the last round waits three runs and three reimages longer than the first.
    expect(Math.max(...r.waitsS) - Math.min(...r.waitsS)).toBeGreaterThanOrEqual(3 * (30 + 45) - 2);
  });

  it('gives the same figures for the same seed, and draws other boot times for another', () => {
    const tasks = Array.from({ length: 50 }, (_, i) => ({ at: i * 37, runS: 20 + (i % 7) * 10 }));
    const run = (seed: number) => simulate({ tasks, pool: { ...pool, jitter: 0.2 }, policy: demandPolicy(), tickS: 1, pollS: 1, seed });
    expect(run(7)).toEqual(run(7));
    expect(run(8).machineMinutes).not.toBe(run(7).machineMinutes);
  });
});

describe('compare', () => {
  // Pairs of tasks 5 minutes apart every hour: keep-alive keeps the machine for the second, on-demand boots twice.
  const tasks = Array.from({ length: 12 }, (_, i) => ({ at: Math.floor(i / 2) * 3600 + (i % 2) * 300, runS: 60 }));
  const rows = compare({
    workloads: [{ name: 'pairs', tasks, hours: 5.1 }],
    kinds: [{ kind: 'ec2', bootS: 40, pricePerHour: { onDemand: 0.12, spot: 0.06 } }],
    policies: [
      { name: 'on-demand', make: () => onDemandPolicy() },
      { name: 'keep-alive', make: () => keepAlivePolicy() },
    ],
    pool: { maxSize: 5, minReady: 0, idleTimeoutS: 300, maxUses: null, recycle: 'reimage', stopS: 5, terminateS: 5, jitter: 0 },
    tickS: 1,
    pollS: 1,
    seed: 1,
  });
  const [onDemand, keepAlive] = rows as [CompareRow, CompareRow];

  it('sets each policy beside the oracle for its own start times', () => {
    expect(rows.map((r) => [r.trace, r.kind, r.policy])).toEqual([['pairs', 'ec2', 'on-demand'], ['pairs', 'ec2', 'keep-alive']]);
    // On-demand: every task waits a boot; keep-alive: the second of each pair finds the machine.
    expect(onDemand.waits.p50).toBe(40);
    expect(keepAlive.waits.p50).toBe(0);
    expect(keepAlive.machinesCreated).toBe(6);
    expect(keepAlive.machineMinutes).toBeGreaterThan(onDemand.machineMinutes);
    for (const r of rows) expect(r.xOracle).toBeCloseTo(r.machineMinutes / r.oracleMinutes, 9);
    // Priced at the kind's price per machine-hour, on demand and as spot.
    for (const r of rows) expect([r.cost.onDemand, r.cost.spot]).toEqual([(r.machineMinutes / 60) * 0.12, (r.machineMinutes / 60) * 0.06]);
    expect(onDemand.xOracle).toBeGreaterThanOrEqual(1);
  });

  it('draws the cost/wait chart as SVG, each policy and frontier point labelled', async () => {
    const svg = await frontierChart([...rows, { ...keepAlive, policy: 'forecast', setting: 0.9 }]);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['on-demand', 'keep-alive', '0.9', 'p95 wait (s)']) expect(svg).toContain(`>${label}</text>`);
  });

  it('names the baselines at least as good on both machine-minutes and p95 wait', () => {
    // Half the tasks wait a boot under both, so the p95 waits tie, and on-demand is the cheaper.
    expect(keepAlive.waits.p95).toBe(onDemand.waits.p95);
    expect(dominatedBy(keepAlive, [onDemand])).toEqual(['on-demand']);
    expect(dominatedBy(onDemand, [keepAlive])).toEqual([]);
    expect(dominatedBy({ ...keepAlive, waits: { ...keepAlive.waits, p95: 39 } }, [onDemand])).toEqual([]);
  });
});

describe('trace files', () => {
  const refused = (text: string) => {
    try {
      parseTrace(text, 'trace.csv');
    } catch (error) {
      expect(error).toBeInstanceOf(TraceFileError);
      return (error as Error).message;
    }
    throw new Error('the trace was accepted');
  };

  it('reads arrivals and run times, named after the file', () => {
    const w = parseTrace('arrival_s,duration_s\r\n0,32\r\n4704,43.5\r\n', '/data/alibaba.csv');
    expect(w).toEqual({ name: 'alibaba', tasks: [{ at: 0, runS: 32 }, { at: 4704, runS: 43.5 }], hours: 4704 / 3600 });
  });

  it.each([
    ['a missing header', '0,32\n1,5\n', /^trace\.csv:1:1: the header must be "arrival_s,duration_s", found "0,32"/],
    ['a non-numeric field', 'arrival_s,duration_s\n0,32\n5,abc\n', /^trace\.csv:3:3: duration_s "abc" is not a number/],
    ['a negative field', 'arrival_s,duration_s\n-4,32\n', /^trace\.csv:2:1: arrival_s -4 is negative/],
    ['an empty field', 'arrival_s,duration_s\n4,\n', /^trace\.csv:2:3: duration_s "" is not a number/],
    ['a missing field', 'arrival_s,duration_s\n4\n', /^trace\.csv:2:1: expected 2 fields/],
    ['arrivals out of order', 'arrival_s,duration_s\n10,1\n9,1\n', /^trace\.csv:3:1: arrival 9 is before the previous line's 10/],
    ['no task', 'arrival_s,duration_s\n', /^trace\.csv:2:1: the trace holds no task/],
  ])('refuses %s, naming the line and column', (_, text, message) => {
    expect(refused(text)).toMatch(message);
  });
});

describe('economics figures', () => {
  const row = (policy: string, machineMinutes: number, p95: number, setting?: number): CompareRow => ({
    trace: 't',
    kind: 'ec2',
    policy,
    ...(setting === undefined ? {} : { setting }),
    machineMinutes,
    oracleMinutes: 100,
    xOracle: machineMinutes / 100,
    cost: { onDemand: machineMinutes / 500, spot: machineMinutes / 1000 },
    waits: { p50: 0, p95, max: p95, mean: 0 },
    machinesCreated: 1,
    peakMachines: 1,
  });

  it('names each figure by trace and pool kind, and picks the frontier points the targets ask about', () => {
    const rows = [row('on-demand', 110, 44), row('keep-alive', 250, 37), row('leaky-bucket', 190, 129), row('sandfleet', 280, 22), row('forecast', 150, 37, 0.8), row('forecast', 170, 29, 0.9), row('forecast', 130, 42, 0.5)];
    const f = figures(rows, [{ kind: 'ec2', bootS: 40, pricePerHour: { onDemand: 0.12, spot: 0.06 } }]);
    expect(f['t.ec2.keep-alive.x_oracle']).toBe(2.5);
    expect(f['t.ec2.sandfleet.p95_wait_s']).toBe(22);
    expect([f['t.ec2.sandfleet.cost'], f['t.ec2.sandfleet.cost_spot']]).toEqual([0.56, 0.28]);
    expect(f['t.ec2.dominated_by']).toEqual([]);
    // Frontier points with p95 ≤ the boot (40 s): 0.8 and 0.9; the cheaper is 1.5 × oracle.
    expect(f['t.ec2.x_oracle_at_boot_wait']).toBe(1.5);
    // At p95 ≤ keep-alive's 37 s, the cheapest frontier point spends 150 of keep-alive's 250.
    expect(f['t.ec2.saving_vs_keepalive']).toBe(0.4);
    expect(figures([...rows.slice(0, 3), row('sandfleet', 300, 50)], [{ kind: 'ec2', bootS: 40, pricePerHour: { onDemand: 0.12, spot: 0.06 } }])['t.ec2.dominated_by']).toEqual(['on-demand', 'keep-alive']);
  });
});
