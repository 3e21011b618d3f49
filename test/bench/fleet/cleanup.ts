// What the runs have started and must stop on Ctrl-C (their daemons, PostgreSQL clusters and
// Redis servers would otherwise outlive the harness): each run registers one undo step while
// it is under way; a normal end undoes its own steps itself and forgets the registration.
export class Cleanup {
  private readonly steps = new Map<number, { name: string; undo: () => void }>();
  private next = 0;

  /** Registers `undo` (it must start its work synchronously); answers the function that forgets it. */
  add(name: string, undo: () => void): () => void {
    const id = this.next++;
    this.steps.set(id, { name, undo });
    return () => this.steps.delete(id);
  }

  /** Runs every registered step; answers what was cleaned up. */
  runAll(): string[] {
    const names: string[] = [];
    for (const [id, step] of [...this.steps].reverse()) {
      this.steps.delete(id);
      try {
        step.undo();
        names.push(step.name);
      } catch {
        // keep going: the others must still be stopped
      }
    }
    return names;
  }
}
