// The state machines' allowed steps written a second time, by hand from docs/architecture.md,
// and compared both ways with the tables the code runs on (and the invariant checker reads):
// a step added to or dropped from a table by mistake fails here.
import { describe, expect, it } from 'vitest';
import { MACHINE_STATES, TASK_STATES } from '../../src/db/states.js';
import { MACHINE_TRANSITIONS } from '../../src/machinery/machine-lifecycle.js';
import { TASK_TRANSITIONS } from '../../src/machinery/task-lifecycle.js';
import { isAllowedStep } from '../../src/machinery/transition-table.js';

const MACHINE_STEPS = new Set([
  'provisioning→booting',
  'provisioning→failed',
  'booting→ready',
  'booting→failed',
  'ready→leased',
  'ready→draining',
  'leased→stopping',
  'draining→stopping',
  'stopping→stopped',
  'stopped→released',
  'released→reimaging',
  'released→deleting',
  'reimaging→ready',
  'reimaging→failed',
  'failed→deleting',
]);

const TASK_STEPS = new Set([
  'queued→assigned',
  'queued→canceled',
  'assigned→running',
  'assigned→failed',
  'assigned→timed_out',
  'assigned→canceled',
  'assigned→queued',
  'running→completed',
  'running→failed',
  'running→timed_out',
  'running→canceled',
  'running→queued',
]);

describe.each([
  ['machine', MACHINE_TRANSITIONS, MACHINE_STATES, MACHINE_STEPS],
  ['task', TASK_TRANSITIONS, TASK_STATES, TASK_STEPS],
] as const)('the %s transition table', (_, table, states, steps) => {
  it('allows exactly the steps written here, for every pair of states', () => {
    const allowed = states.flatMap((from) => states.filter((to) => isAllowedStep(table, from, to)).map((to) => `${from}→${to}`));
    expect(new Set(allowed)).toEqual(steps);
  });

  it('names no state that does not exist', () => {
    for (const spec of Object.values(table)) for (const state of [...spec.from, spec.to]) expect(states).toContain(state);
  });
});
