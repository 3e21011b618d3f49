import { describe, expect, it } from 'vitest';
import { MACHINE_STATES, TASK_STATES, TASK_TERMINAL_STATES } from '../../src/db/states.js';
import { MACHINE_TRANSITIONS } from '../../src/machinery/machine-lifecycle.js';
import { TASK_TRANSITIONS } from '../../src/machinery/task-lifecycle.js';
import { isAllowedStep } from '../../src/machinery/transition-table.js';

function reachable(table: Record<string, { from: readonly string[]; to: string }>, start: string): Set<string> {
  const seen = new Set([start]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of Object.values(table)) {
      if (t.from.some((f) => seen.has(f)) && !seen.has(t.to)) {
        seen.add(t.to);
        grew = true;
      }
    }
  }
  return seen;
}

describe('machine lifecycle table', () => {
  it('reaches every state from provisioning', () => {
    expect([...reachable(MACHINE_TRANSITIONS, 'provisioning')].sort()).toEqual([...MACHINE_STATES].sort());
  });

  it('lets only the allocator lease and only from ready; a leased machine cannot be drained', () => {
    expect(MACHINE_TRANSITIONS.lease.from).toEqual(['ready']);
    expect(isAllowedStep(MACHINE_TRANSITIONS, 'leased', 'draining')).toBe(false);
  });

  it('reaches deleting only through released or failed, and released only through stopped', () => {
    const into = (to: string) => Object.values(MACHINE_TRANSITIONS).filter((t) => t.to === to).flatMap((t) => t.from);
    expect(into('deleting').sort()).toEqual(['failed', 'released']);
    expect(into('released')).toEqual(['stopped']);
    expect(into('stopped')).toEqual(['stopping']);
  });
});

describe('task lifecycle table', () => {
  it('has no way out of a terminal state', () => {
    for (const terminal of TASK_TERMINAL_STATES) {
      for (const to of TASK_STATES) expect(isAllowedStep(TASK_TRANSITIONS, terminal, to)).toBe(false);
    }
  });

  it('reaches every state from queued', () => {
    expect([...reachable(TASK_TRANSITIONS, 'queued')].sort()).toEqual([...TASK_STATES].sort());
  });
});
