// A steady client: submits tasks to whichever daemon answers, each with its own Idempotency-Key,
// and repeats a submission whose answer it did not get (timeout, reset, 5xx) under the same key
// until it is accepted, so "accepted" is exact and a retried request cannot duplicate a task.
import { randomUUID } from 'node:crypto';
import type { DaemonProcess } from './daemons.js';

export class Submitter {
  readonly accepted: string[] = [];
  /** Submissions still without a definitive answer when the submitter was stopped. */
  unanswered = 0;
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly daemons: DaemonProcess[],
    private readonly token: string,
    private readonly pools: string[],
    private readonly perSecond: number,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops submitting new tasks; submissions in flight are driven to an answer first. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; this.running; i++) {
      const p = this.submit(this.pools[i % this.pools.length]!).finally(() => inFlight.delete(p));
      inFlight.add(p);
      await new Promise((r) => setTimeout(r, 1000 / this.perSecond));
    }
    await Promise.all(inFlight);
  }

  private async submit(pool: string): Promise<void> {
    const key = randomUUID();
    const deadline = Date.now() + 120_000;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const daemon = this.daemons[(attempt + Math.floor(Math.random() * this.daemons.length)) % this.daemons.length]!;
      try {
        const response = await fetch(`${daemon.base}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ pool, payload: { chaos: key }, timeout_s: 60 }),
          signal: AbortSignal.timeout(10_000),
        });
        if (response.status === 201 || response.status === 200) {
          this.accepted.push(((await response.json()) as { id: string }).id);
          return;
        }
        await response.body?.cancel();
        if (response.status < 500) throw new Error(`submission refused with ${response.status}`);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('submission refused')) throw error;
        // no answer: ask again, under the same key
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.unanswered++;
  }
}
