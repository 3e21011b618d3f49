// How a history prints for people: one line per event, oldest at the top, naming the other side
// of each lease (a machine's history names its tasks, a task's history its machines).
import type { EventView } from '../../scheduler/service/views.js';
import { printTable } from '../output.js';

export function printEvents(events: readonly EventView[]): void {
  const rows = [...events]
    .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
    .map((e) => ({ at: e.at, kind: e.kind, change: `${e.from ?? '-'} → ${e.to}`, machine: e.machine_id, task: e.task_id, actor: e.actor, reason: e.reason }));
  const own = events[0]?.entity;
  printTable(rows, ['at', 'kind', 'change', ...(own === 'machine' ? [] : ['machine']), ...(own === 'task' ? [] : ['task']), 'actor', 'reason']);
}
