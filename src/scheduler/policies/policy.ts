// What a scaling policy is given and what it answers: the interface between the autoscaler
// (src/scheduler/autoscaler.ts, which reads the load and carries out the plan) and the policies
// in this folder. Both import it; neither imports the other's module for its types.
import type { PoolRow } from '../../db/schema.js';

export interface PoolLoad {
  queued: number;
  leased: number;
  ready: number;
  /** Machines on their way to ready: provisioning, booting, reimaging, and (reimage pools) being recycled. */
  coming: number;
  /** The part of `coming` that is on its way back from a task (reimage pools: stopping … reimaging). */
  recycling: number;
}

/** A policy's answer for one tick: how many machines to create, and how many idle ready ones may go. */
export interface ScalePlan {
  create: number;
  /** At most this many ready machines are drained, oldest idle first… */
  drain: number;
  /** …and only those idle (ready, unleased) for at least this long. */
  drainIdleForMs: number;
}

/**
 * Decides a pool's scaling on every tick of its leader. A policy may keep state between ticks
 * (per pool); it starts afresh when the pool's lease moves to another process.
 */
export interface AutoscalePolicy {
  readonly name: string;
  plan(pool: PoolRow, load: PoolLoad, now: Date): ScalePlan;
}
