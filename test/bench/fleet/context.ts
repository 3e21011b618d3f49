// What every phase of a run works with, and the small waiting helpers they share.
import type pg from 'pg';
import type { Classifier } from './attribution.js';
import type { FleetDaemon } from './daemon.js';
import type { Observer } from './observer.js';
import type { StatsSnapshot } from './pg-stats.js';
import { snapshot } from './pg-stats.js';
import type { PoolPlan, RunPlan } from './plan.js';
import type { StatsPostgres } from './postgres.js';
import type { RestSubmitter, Submission } from './submitter.js';
import type { WorkloadDriver } from './workload.js';

export interface RunContext {
  plan: RunPlan;
  driver: WorkloadDriver;
  cluster: StatsPostgres;
  database: string;
  daemons: FleetDaemon[];
  observer: Observer;
  /** The maintenance-database connection statistics are read on. */
  stats: pg.Client;
  classifier: Classifier;
  submitter: RestSubmitter;
  /** Seeded task durations in ms. */
  duration: () => number;
  /** A progress line on stderr, prefixed with the run's label. */
  log: (message: string) => void;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export function takeSnapshot(ctx: RunContext): Promise<StatsSnapshot> {
  return snapshot(ctx.stats, ctx.database);
}

/** Submissions to `pools` in turn, each lasting `duration()` (or `fixedMs`), tagged with `phase`. */
export function submissionsTo(ctx: RunContext, pools: readonly PoolPlan[], phase: string, fixedMs?: number): () => Submission {
  let i = 0;
  return () => ({ pool: pools[i++ % pools.length]!.name, payload: ctx.driver.payload(fixedMs ?? ctx.duration(), phase) });
}

/**
 * Polls `check` every `everyMs` until it answers true; logs `describe()` every `logEveryMs`.
 * Throws with the last description after `timeoutMs`, and as soon as a daemon has died.
 */
export async function waitUntil(ctx: RunContext, what: string, check: () => Promise<boolean>, describe: () => string, timeoutMs: number, everyMs = 1000, logEveryMs = 15_000): Promise<void> {
  const started = Date.now();
  let logged = started;
  for (;;) {
    if (await check()) return;
    const dead = ctx.daemons.find((d) => !d.alive);
    if (dead) throw new Error(`${what}: the daemon on :${dead.port} exited; its most frequent log lines:\n${dead.topMessages()}\nits last output:\n${dead.tail(1500)}`);
    const now = Date.now();
    if (now - started > timeoutMs) throw new Error(`${what}: not reached within ${(timeoutMs / 1000).toFixed(0)} s (${describe()})`);
    if (now - logged >= logEveryMs) {
      ctx.log(`${what}: ${describe()} (${((now - started) / 1000).toFixed(0)} s)`);
      logged = now;
    }
    await sleep(everyMs);
  }
}

/** Ready machines of `pools` equal their size: the pools are back at rest. */
export async function poolsAtRest(ctx: RunContext, pools: readonly PoolPlan[]): Promise<{ atRest: boolean; ready: number; wanted: number }> {
  const ready = await ctx.observer.readyByPool();
  const count = pools.reduce((sum, p) => sum + Math.min(p.machines, ready.get(p.name) ?? 0), 0);
  const wanted = pools.reduce((sum, p) => sum + p.machines, 0);
  return { atRest: count >= wanted, ready: count, wanted };
}
