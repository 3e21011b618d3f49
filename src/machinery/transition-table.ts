export interface TransitionSpec<S extends string> {
  readonly from: readonly S[];
  readonly to: S;
}

export type TransitionTable<S extends string> = Readonly<Record<string, TransitionSpec<S>>>;

/** Is `from → to` one of the table's transitions? Used by checkers reading the event log. */
export function isAllowedStep<S extends string>(table: TransitionTable<S>, from: string, to: string): boolean {
  return Object.values(table).some((t) => t.to === to && (t.from as readonly string[]).includes(from));
}
