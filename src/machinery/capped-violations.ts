// At most `limit` violations of each invariant are kept; past it they are only counted, so a
// badly broken database cannot make the checker hold one object per bad row.
export class CappedViolations<I extends string, V extends { invariant: I }> {
  readonly violations: V[] = [];
  /** Per invariant, the violations found past the limit: counted, not listed. */
  readonly omitted: Partial<Record<I, number>> = {};
  private readonly listed = new Map<I, number>();

  constructor(readonly limit: number) {}

  add(violation: V): void {
    const n = this.listed.get(violation.invariant) ?? 0;
    if (n < this.limit) {
      this.violations.push(violation);
      this.listed.set(violation.invariant, n + 1);
    } else this.omit(violation.invariant, 1);
  }

  omit(invariant: I, count: number): void {
    if (count > 0) this.omitted[invariant] = (this.omitted[invariant] ?? 0) + count;
  }
}
