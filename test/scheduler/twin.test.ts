// The economics simulator against the real system, in small: a 12-minute trace replayed through
// the scheduler in accelerated real time (×8, PostgreSQL queue, sim provider), and the same trace,
// pools and policies in the simulator (`npm run economics -- --twin` at full size). The simulator
// must tell the same story: machine-minutes within 15 %, p50 and p95 waits within 15 % or 20 s of
// trace time (2.5 s of wall time). Of 30 tasks, p95 is the second-longest wait: the leaky
// bucket's came out 105 s simulated against 90 s replayed in each run so far, on a quiet machine
// and inside the whole suite alike.
import { describe, expect, it } from 'vitest';
import { measure } from '../bench/economics/measure.js';
import { createBenchDatabase, POOL_KINDS, replay, type PoolShape } from '../bench/economics/replay.js';
import type { Trace } from '../bench/economics/trace.js';
import { replayWindows, simulateTwin } from '../bench/economics/twin.js';

const FACTOR = 8;
const arrival = (i: number) => i * 20 + (i % 3) * 5;
const trace: Trace = {
  seed: 0,
  hours: 0.2,
  bursts: [],
  // Arrivals every 20-30 s with a pair now and then; runs of 40-85 s: machines are reused, kept and drained.
  tasks: Array.from({ length: 30 }, (_, i) => ({ i, at: arrival(i % 7 === 6 ? i - 1 : i), runS: 40 + (i % 4) * 15, burst: null })),
};
const shape: PoolShape = { maxSize: 10, minReady: 0, idleTimeoutS: 300, maxUses: null, recycle: 'reimage', stopS: 10, terminateS: 20 };
const leaky = { intervalS: 120, overprovision: 0.2 };
const kinds = POOL_KINDS.filter((k) => k.kind === 'ec2');

const within = (simulated: number, real: number, slack: number) => Math.abs(simulated - real) <= Math.max(0.15 * real, slack);

describe('the economics simulator', () => {
  it('agrees with a real-time replay of the same trace on machine-minutes and waits', { timeout: 240_000 }, async () => {
    const database = await createBenchDatabase(16, true);
    const submitter = database.open(4, 'sandfleet-test-twin-submit');
    try {
      const run = await replay(database, submitter, { trace, factor: FACTOR, kinds, pool: shape, backend: { kind: 'postgres' }, leaky, tickS: 1, pollS: 1, connections: 16, submitConnections: 4, log: () => {} });
      expect(run.errors).toEqual([]);
      const real = await measure(database.db, run, FACTOR, shape, trace.hours);
      const simulated = simulateTwin({ trace, kinds, pool: shape, leaky, tickS: 1, pollS: 1, seed: 1, windowS: replayWindows(real) });
      const pairs = simulated.map((sim) => ({ sim, real: real.find((r) => r.pool.policy === sim.policy)! }));
      const side = pairs.map(({ sim, real: r }) => ({
        policy: sim.policy,
        machineMinutes: [r.machineMinutes, sim.machineMinutes],
        p50: [r.waitsS.p50, sim.waits.p50],
        p95: [r.waitsS.p95, sim.waits.p95],
        completed: r.completed,
      }));
      console.log(`replay / simulator: ${JSON.stringify(side)}`);
      for (const { sim, real: r } of pairs) {
        expect(r.completed, JSON.stringify(side)).toBe(trace.tasks.length);
        expect(within(sim.machineMinutes, r.machineMinutes, 0), JSON.stringify(side)).toBe(true);
        expect(within(sim.waits.p50, r.waitsS.p50, 20), JSON.stringify(side)).toBe(true);
        expect(within(sim.waits.p95, r.waitsS.p95, 20), JSON.stringify(side)).toBe(true);
      }
    } finally {
      await submitter.close();
      await database.drop();
    }
  });
});
