// The economics benchmark's oracle (test/bench/economics/oracle.ts) on a hand-made trace of five
// tasks: the machine-minutes of a clairvoyant schedule that boots just in time, reuses a machine
// only when idling costs less than a fresh boot, and respects the reset between tasks and max_uses.
import { describe, expect, it } from 'vitest';
import { oracle, type OracleTask } from '../bench/economics/oracle.js';

// A and C start together (two machines needed); B follows A; E and D come later.
const tasks: OracleTask[] = [
  { startS: 100, runS: 60 }, // A, ends 160
  { startS: 180, runS: 30 }, // B, ends 210
  { startS: 100, runS: 10 }, // C, ends 110
  { startS: 300, runS: 10 }, // D
  { startS: 260, runS: 10 }, // E
];

describe('oracle', () => {
  it('reuses a machine as is when the idle gap is cheaper than a boot', () => {
    // A: new (40 + 60). C: new (40 + 10). B: after A, gap 20 ≤ 40 → reuse (20 + 30); C's machine
    // idled 70 > 40. E: gap 50 after B → new (40 + 10). D: gap 30 after E → reuse (30 + 10).
    const result = oracle(tasks, { bootS: 40, resetS: 0, teardownS: 0, maxUses: null });
    expect(result.machines).toBe(3);
    expect(result.machineMinutes * 60).toBeCloseTo(100 + 50 + 50 + 50 + 40, 9);
  });

  it('pays a reset (reimage) between tasks and a teardown per machine, as sandfleet does', () => {
    // boot 40, reimage 40, teardown 20; reuse only when ready again and the gap ≤ 40 + 20.
    // A new: 120 (ends 160). C new: 70 (ends 110). B at 180: A's machine is reimaged only at 200,
    // C's idled 70 > 60 → new: 90 (ends 210). E at 260: B's machine ready at 250, gap 50 ≤ 60 →
    // reuse: 50 + 10 (ends 270). D at 300: E's machine not ready before 310 → new: 70.
    const result = oracle(tasks, { bootS: 40, resetS: 40, teardownS: 20, maxUses: null });
    expect(result.machines).toBe(4);
    expect(result.machineMinutes * 60).toBeCloseTo(120 + 70 + 90 + 60 + 70, 9);
    // Never below Σ (boot + run) when every task needs its own boot or reimage.
    expect(result.machineMinutes * 60).toBeGreaterThanOrEqual(tasks.reduce((s, t) => s + 40 + t.runS, 0));
  });

  it('gives every task its own machine when max_uses is 1', () => {
    const result = oracle(tasks, { bootS: 40, resetS: 40, teardownS: 20, maxUses: 1 });
    expect(result.machines).toBe(5);
    expect(result.machineMinutes * 60).toBeCloseTo(120 + 90 + 70 + 70 + 70, 9);
  });

  it('picks the free machine that freed most recently', () => {
    // Two machines free at 100 and 150; a task at 160 goes to the second (gap 10, not 60).
    const result = oracle(
      [
        { startS: 0, runS: 100 },
        { startS: 0, runS: 150 },
        { startS: 160, runS: 10 },
      ],
      { bootS: 100, resetS: 0, teardownS: 0, maxUses: null },
    );
    expect(result.machines).toBe(2);
    expect(result.machineMinutes * 60).toBeCloseTo(200 + 250 + 10 + 10, 9);
  });
});
