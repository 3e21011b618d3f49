// The database's time in this process, for deadlines measured from timestamps the database wrote
// (a machine's state_changed_at against its boot timeout). It is kept as an offset from the
// process's clock, read when the scheduler starts and again every few minutes, so a daemon whose
// clock is minutes off times out boots as one whose clock is right, without a query per check.

/** Clocks drift slowly; a step (a VM resumed, NTP corrected) is caught within this long. */
const REFRESH_MS = 5 * 60_000;

export class DatabaseClock {
  private offsetMs = 0;
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly read: () => Promise<Date>,
    private readonly refreshMs = REFRESH_MS,
  ) {}

  /** The database's now, in epoch milliseconds. */
  async now(): Promise<number> {
    if (performance.now() - this.readAt > this.refreshMs) await this.refresh();
    return Date.now() + this.offsetMs;
  }

  /** Reads the database's time now (one statement), halving the round trip. */
  refresh(): Promise<void> {
    this.reading ??= (async () => {
      const before = Date.now();
      const database = (await this.read()).getTime();
      this.offsetMs = database - (before + Date.now()) / 2;
      this.readAt = performance.now();
    })().finally(() => (this.reading = undefined));
    return this.reading;
  }
}
