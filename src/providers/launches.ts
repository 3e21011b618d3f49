// One create request per launch (machines reserved together) in this process: the first member
// of a launch to ask sends it, the others take their instance from its answer. A request that
// failed is forgotten, so the next member's attempt sends it again; that is safe because the
// cloud request is idempotent on the launch id.
import { capacity } from './errors.js';
import type { Instance, Launch } from './types.js';

/** What one launch request created, by the index the cloud gave each instance in it. */
export type LaunchResult = ReadonlyMap<number, Instance>;

/** How long a launch's answer is kept for members that ask late (a delayed or retried job). */
const KEEP_MS = 10 * 60_000;

interface Sent {
  at: number;
  result: Promise<LaunchResult>;
  settled: boolean;
  /** Members that waited on this request: one asking again gave up on it (its call deadline). */
  askedBy: Set<string>;
}

export class Launches {
  private readonly sent = new Map<string, Sent>();

  /** The instance of `machineId` (member `launch.index`), from the launch's one request. */
  async instanceFor(machineId: string, launch: Launch, send: () => Promise<LaunchResult>): Promise<Instance> {
    const result = await this.resultOf(machineId, launch.id, send);
    const instance = result.get(launch.index);
    // The cloud filled the launch only in part: this member will not get an instance from it.
    if (!instance) throw capacity(`launch ${launch.id} created ${result.size} of ${launch.size} instances; none for machine ${machineId}`, { operation: 'create' });
    return { ...instance, machineId };
  }

  private resultOf(machineId: string, id: string, send: () => Promise<LaunchResult>): Promise<LaunchResult> {
    const now = Date.now();
    for (const [key, entry] of this.sent) if (entry.settled && now - entry.at > KEEP_MS) this.sent.delete(key);
    const known = this.sent.get(id);
    // A request still unanswered when a member asks again may hang: send another (it is idempotent).
    if (known && (known.settled || !known.askedBy.has(machineId))) {
      known.askedBy.add(machineId);
      return known.result;
    }
    const entry: Sent = { at: now, result: send(), settled: false, askedBy: new Set([machineId]) };
    this.sent.set(id, entry);
    entry.result.then(
      () => (entry.settled = true),
      () => {
        if (this.sent.get(id) === entry) this.sent.delete(id);
      },
    );
    return entry.result;
  }
}
