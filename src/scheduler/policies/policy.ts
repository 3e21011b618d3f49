// What a scaling policy is given and what it answers: the interface between the autoscaler
// (src/scheduler/autoscaler.ts, which hands a policy the pool's load and carries out its plan)
// and the policies in this folder. Both import it; neither imports the other's module for its types.
import type { PoolRow } from '../../db/schema.js';
import type { PoolLoad } from '../../machinery/index.js';

/** What the policy weighs: read by the repository in one statement (src/machinery/fleet-stats.ts). */
export type { PoolLoad };

/** A policy's answer for one tick: how many machines to create, and how many idle ready ones may go. */
export interface ScalePlan {
  create: number;
  /** At most this many ready machines are drained, oldest idle first… */
  drain: number;
  /** …and only those idle (ready, unleased) for at least this long. */
  drainIdleForMs: number;
  /**
   * The machines the pool should hold (busy and warm): a machine back from a task when the pool
   * already holds that many is to be deleted rather than reimaged. Absent: every machine with
   * uses left is reimaged (in a reimage pool). The autoscaler marks machines still stopping or
   * stopped beyond it to be deleted at release (src/scheduler/autoscaler.ts), and the economics
   * simulator does the same on its ticks.
   */
  keep?: number;
}

/**
 * Decides a pool's scaling on every tick of its leader. A policy may keep state between ticks
 * (per pool); it starts afresh when the pool's lease moves to another process.
 */
export interface AutoscalePolicy {
  readonly name: string;
  plan(pool: PoolRow, load: PoolLoad, now: Date): ScalePlan;
}
