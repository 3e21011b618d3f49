// The event log read as one path per entity through its transition table (I3, I7, I8), in
// bounded memory: events come in keyset batches ordered by (entity_id, id), each entity's steps
// are folded as they pass (a few counters, whatever the length of its history), and the rows
// they are compared with are read per batch. Memory is bounded by the batch size, never by the
// log. (A row with no events at all is one anti-join, in invariants.ts.)
import { sql, type SQL } from 'drizzle-orm';
import type { Tx } from '../db/database.js';
import { MACHINE_DELETABLE_STATE, MACHINE_DELETED, MACHINE_RETIRE_REQUEST_STATES, MACHINE_TRANSITIONS } from './machine-lifecycle.js';
import { TASK_TRANSITIONS } from './task-lifecycle.js';
import { isAllowedStep, type TransitionTable } from './transition-table.js';

/** Events per read: what the checker holds at once, whatever the size of the log. */
export const HISTORY_BATCH = 10_000;

export interface EventStep {
  id: string;
  entity: string;
  entity_id: string;
  from_state: string | null;
  to_state: string;
}

/** A machine's or task's row as the history is compared with it (`uses` is null for a task). */
export interface CurrentRow {
  state: string;
  version: number;
  uses: number | null;
}

/** The invariants an entity's history decides (a subset of invariants.ts's InvariantId). */
export type HistoryInvariant = 'I3' | 'I7' | 'I8';

export interface HistoryProblem {
  invariant: HistoryInvariant;
  id: string;
  detail: string;
}

/** The finishing order a deleted machine that served must have gone through, last occurrence of each. */
const FINISHING_ORDER = ['stopped', 'released', 'deleting', 'deleted'] as const;

interface PathRules {
  table: TransitionTable<string>;
  initial: string;
  /** States in which a row may change without moving, logging an event from the state to itself. */
  stays: readonly string[];
}

const MACHINE_RULES: PathRules = { table: MACHINE_TRANSITIONS, initial: 'provisioning', stays: MACHINE_RETIRE_REQUEST_STATES };
const TASK_RULES: PathRules = { table: TASK_TRANSITIONS, initial: 'queued', stays: [] };

/**
 * One entity's history, folded step by step: what the checks below need of it (the first break
 * in its path, its length, its last state, where the finishing steps last were, the leases it
 * served), in constant memory.
 */
export class HistoryFold {
  readonly isMachine: boolean;
  private readonly rules: PathRules;
  private steps = 0;
  private last: string;
  private readonly firstFrom: string | null;
  /** The first thing wrong with the path, as a sentence; later steps cannot mend it. */
  private broken: string | null = null;
  /** Where each state of FINISHING_ORDER was last reached (-1: never). */
  private readonly lastAt = FINISHING_ORDER.map(() => -1);
  private servedAny = false;
  private holding = false;
  private leasesReleased = 0;

  constructor(
    readonly id: string,
    first: EventStep,
  ) {
    // The first event names the entity, as it did when the whole history was read at once.
    this.isMachine = first.entity === 'machine';
    this.rules = this.isMachine ? MACHINE_RULES : TASK_RULES;
    this.firstFrom = first.from_state;
    this.last = first.to_state;
    this.add(first);
  }

  add(step: EventStep): void {
    const i = this.steps++;
    if (this.broken === null) this.broken = i === 0 ? this.creationProblem(step) : this.stepProblem(i, step);
    this.last = step.to_state;
    const finishing = (FINISHING_ORDER as readonly string[]).indexOf(step.to_state);
    if (finishing >= 0) this.lastAt[finishing] = i;
    if (step.to_state === 'leased' || step.to_state === 'draining') this.servedAny = true;
    // A lease counts once it is released: `uses` counts those.
    if (step.to_state === 'leased') this.holding = true;
    if (step.to_state === 'released' && this.holding) {
      this.leasesReleased++;
      this.holding = false;
    }
  }

  private creationProblem(step: EventStep): string | null {
    const { initial } = this.rules;
    return step.from_state !== null || step.to_state !== initial ? `first event is ${step.from_state} → ${step.to_state}, not creation as ${initial}` : null;
  }

  private stepProblem(i: number, step: EventStep): string | null {
    const from = this.last;
    if (step.from_state !== from) return `event ${i} starts from ${step.from_state} but the row was ${from}`;
    const finalizer = from === MACHINE_DELETABLE_STATE && step.to_state === MACHINE_DELETED;
    const stay = from === step.to_state && this.rules.stays.includes(from);
    if (!finalizer && !stay && !isAllowedStep(this.rules.table, from, step.to_state)) return `forbidden step ${from} → ${step.to_state}`;
    return null;
  }

  /** What is wrong with this history given the entity's row (undefined: it has none), or null. */
  problem(row: CurrentRow | undefined): Omit<HistoryProblem, 'id'> | null {
    return this.isMachine ? this.machineProblem(row) : this.taskProblem(row);
  }

  private machineProblem(row: CurrentRow | undefined): Omit<HistoryProblem, 'id'> | null {
    if (this.last === MACHINE_DELETED) {
      if (this.broken) return { invariant: 'I3', detail: `deleted machine: ${this.broken}` };
      if (row) return { invariant: 'I3', detail: 'machine logged as deleted still has a row' };
      const order = this.lastAt;
      if (this.servedAny && !order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))) {
        return { invariant: 'I3', detail: 'deleted machine did not go stop < release < delete-request < deleted' };
      }
      return null;
    }
    if (this.broken) return { invariant: 'I8', detail: `machine history: ${this.broken}` };
    if (!row) return { invariant: 'I8', detail: 'machine row is missing but was never logged as deleted' };
    if (row.state !== this.last) return { invariant: 'I8', detail: `machine is ${row.state} but its last event says ${this.last}` };
    if (row.version !== this.steps) return { invariant: 'I8', detail: `machine version ${row.version} but ${this.steps} events` };
    if (row.uses !== this.leasesReleased) return { invariant: 'I8', detail: `machine uses ${row.uses} but ${this.leasesReleased} leases were released` };
    return null;
  }

  private taskProblem(row: CurrentRow | undefined): Omit<HistoryProblem, 'id'> | null {
    if (!row) return { invariant: 'I7', detail: 'task has events but no row' };
    if (this.broken) return { invariant: this.firstFrom === null ? 'I8' : 'I7', detail: `task history: ${this.broken}` };
    if (row.state !== this.last) return { invariant: 'I8', detail: `task is ${row.state} but its last event says ${this.last}` };
    if (row.version !== this.steps) return { invariant: 'I8', detail: `task version ${row.version} but ${this.steps} events` };
    return null;
  }
}

type PoolFilter = (alias: string) => SQL;

/**
 * Every entity's history in the snapshot of `tx`, judged against its row; `report` gets each
 * problem as it is found. Reads `batch` events at a time after the last (entity_id, id) seen
 * (events_entity_idx), so each read is one short index range.
 */
export async function checkHistories(tx: Tx, inPool: PoolFilter, report: (problem: HistoryProblem) => void, batch = HISTORY_BATCH): Promise<void> {
  // Declared wide: TypeScript does not follow the assignments in the loop below.
  let open = null as HistoryFold | null;
  let after: { entityId: string; id: string } | null = null;
  for (;;) {
    const keyset = after === null ? sql`true` : sql`(e.entity_id, e.id) > (${after.entityId}::uuid, ${after.id}::bigint)`;
    const steps = (
      await tx.execute(sql`
        SELECT e.id::text, e.entity, e.entity_id::text, e.from_state, e.to_state FROM events e
        WHERE ${inPool('e')} AND ${keyset} ORDER BY e.entity_id, e.id LIMIT ${batch}`)
    ).rows as unknown as EventStep[];
    // Histories that ended in this batch; the last one may go on in the next.
    const ended: HistoryFold[] = [];
    for (const step of steps) {
      if (open?.id === step.entity_id) open.add(step);
      else {
        if (open) ended.push(open);
        open = new HistoryFold(step.entity_id, step);
      }
    }
    const done = steps.length < batch;
    if (done && open) ended.push(open);
    const lastStep = steps[steps.length - 1];
    if (lastStep) after = { entityId: lastStep.entity_id, id: lastStep.id };
    await judge(tx, inPool, ended, report);
    if (done) return;
  }
}

/** Reads the rows of `histories` in one statement and reports what is wrong with each. */
async function judge(tx: Tx, inPool: PoolFilter, histories: HistoryFold[], report: (problem: HistoryProblem) => void): Promise<void> {
  if (histories.length === 0) return;
  const ids = sql`${sql.param(histories.map((h) => h.id))}::uuid[]`;
  const found = await tx.execute(sql`
    SELECT m.id::text, m.state, m.version, m.uses, 0 AS kind FROM machines m WHERE m.id = ANY(${ids}) AND ${inPool('m')}
    UNION ALL
    SELECT t.id::text, t.state, t.version, NULL::int, 1 AS kind FROM tasks t WHERE t.id = ANY(${ids}) AND ${inPool('t')}
    ORDER BY kind`);
  // A task row wins over a machine row of the same id (there is none: uuids), as it always did.
  const rows = new Map<string, CurrentRow>();
  for (const r of found.rows as unknown as (CurrentRow & { id: string })[]) rows.set(r.id, { state: r.state, version: Number(r.version), uses: r.uses === null ? null : Number(r.uses) });
  for (const history of histories) {
    const problem = history.problem(rows.get(history.id));
    if (problem) report({ ...problem, id: history.id });
  }
}
