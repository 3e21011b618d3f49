// Every state change answers Ok(row) or Conflict(current): losing a race is an expected,
// typed result, never an exception (the seed reports' StaleDataError).

export interface Ok<Row> {
  readonly ok: true;
  readonly row: Row;
}

export interface Conflict<Row> {
  readonly ok: false;
  /** The row as it is now, or null when it no longer exists. */
  readonly current: Row | null;
}

export type Outcome<Row> = Ok<Row> | Conflict<Row>;

export const ok = <Row>(row: Row): Ok<Row> => ({ ok: true, row });
export const conflict = <Row>(current: Row | null): Conflict<Row> => ({ ok: false, current });

/** The row after a transition: the new one, or the current one when it lost (null: gone). */
export function rowOf<Row>(outcome: Outcome<Row>): Row | null {
  return outcome.ok ? outcome.row : outcome.current;
}

/** Thrown only when the database contradicts what a held lock guarantees: a bug, not a race. */
export class InvariantBreach extends Error {
  override readonly name = 'InvariantBreach';
}
