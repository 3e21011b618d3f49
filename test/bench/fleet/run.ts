// One run: a PostgreSQL cluster (and for the redis backend a Redis server) of its own, the
// daemons on a generated config, a submitter token from the CLI, then the phases in order:
// warm (+ idle baseline), a closed window per recycle mode, the burst (+ background window),
// steady state. A phase that fails ends the run (what it had measured is kept); everything the
// run started is stopped and removed whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { PrivateRedis } from '../../support/private-redis.js';
import { classifierFor } from './attribution.js';
import type { Cleanup } from './cleanup.js';
import { writeDaemonConfig } from './config.js';
import type { RunContext } from './context.js';
import { FleetDaemon } from './daemon.js';
import { Observer } from './observer.js';
import { burst, type BurstResult } from './phases/burst.js';
import { steady, type SteadyResult } from './phases/steady.js';
import { warm, type WarmResult } from './phases/warm.js';
import { closedWindow, type WindowResult } from './phases/window.js';
import { durationSource, MODES, type Recycle, type RunPlan } from './plan.js';
import { OBSERVER, StatsPostgres } from './postgres.js';
import { RestSubmitter } from './submitter.js';
import { createSubmitterToken } from './token.js';
import type { WorkloadDriver } from './workload.js';

export interface RunResult {
  plan: RunPlan;
  seconds: number;
  warm?: WarmResult;
  windows: Partial<Record<Recycle, WindowResult>>;
  burst?: BurstResult;
  steady?: SteadyResult;
  /** The phase that failed, if one did; the phases after it did not run. */
  failure?: { phase: string; error: string };
  daemonErrors: { count: number; samples: string[] };
  submissions: { accepted: number; refused: number; unanswered: number; problems: string[] };
}

const DATABASE = 'sandfleet_fleet';
const DAEMON_READY_MS = 180_000;

export async function runFleet(plan: RunPlan, driver: WorkloadDriver, cleanup: Cleanup, log: (message: string) => void): Promise<RunResult> {
  const began = Date.now();
  const result: RunResult = { plan, seconds: 0, windows: {}, daemonErrors: { count: 0, samples: [] }, submissions: { accepted: 0, refused: 0, unanswered: 0, problems: [] } };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-fleet-'));
  const undo: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const forget = cleanup.add(`run ${plan.label}`, () => {
    for (const step of [...undo].reverse()) void step();
  });
  let phase = 'setup';
  let daemons: FleetDaemon[] = [];
  let submitter: RestSubmitter | undefined;
  try {
    // A daemon's pool grows to its handlers (run + machine concurrency) plus listeners, leader and spare.
    const cluster = await StatsPostgres.start(100 + plan.daemons * (plan.runConcurrency + plan.machineConcurrency + 32));
    undo.push(() => cluster.stop());
    const redis = plan.backend === 'redis' ? await PrivateRedis.start() : null;
    if (redis) undo.push(() => redis.stop());
    await cluster.createDatabase(DATABASE);
    const config = path.join(dir, 'sandfleet.yaml');
    writeDaemonConfig(config, plan, driver);
    const env: Record<string, string> = { DATABASE_URL: cluster.url(DATABASE), ...(redis ? { REDIS_URL: redis.url } : {}) };
    log(`PostgreSQL :${cluster.port}${redis ? `, Redis :${redis.port}` : ''}; starting ${plan.daemons} daemon(s) on ${plan.machines.toLocaleString('en-US')} machines (run_concurrency ${plan.runConcurrency}, machine_concurrency ${plan.machineConcurrency})`);
    const started = Date.now();
    const starting = Array.from({ length: plan.daemons }, () => FleetDaemon.start(config, env, DAEMON_READY_MS));
    const settled = await Promise.allSettled(starting);
    daemons = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    undo.push(() => Promise.all(daemons.map((d) => d.kill())).then(() => undefined));
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (refused) throw refused.reason;
    // The simulated agents, when the driver has them: a process or a few for every machine's agent.
    const sidecar = driver.sidecar?.(config, env, plan.machines, log);
    if (sidecar) undo.push(() => sidecar.stop().then(() => undefined));
    const token = await createSubmitterToken(config, env);
    const observer = await Observer.connect(cluster.url(DATABASE, OBSERVER));
    undo.push(() => observer.close());
    const stats: pg.Client = await cluster.connect();
    undo.push(() => stats.end());
    submitter = new RestSubmitter(daemons.map((d) => d.base), token);
    const ctx: RunContext = {
      plan,
      driver,
      cluster,
      database: DATABASE,
      daemons,
      observer,
      stats,
      classifier: await classifierFor(observer.connection),
      submitter,
      duration: durationSource(plan.durations, plan.seed),
      log,
    };
    phase = 'warm';
    result.warm = await warm(ctx, started);
    let at = result.warm.after;
    for (const mode of plan.phases.includes('windows') ? MODES : []) {
      phase = `${mode} window`;
      const { result: window, after } = await closedWindow(ctx, mode, at);
      result.windows[mode] = window;
      at = after;
    }
    if (plan.phases.includes('burst')) {
      phase = 'burst';
      result.burst = await burst(ctx);
    }
    if (plan.phases.includes('steady')) {
      phase = 'steady';
      result.steady = await steady(ctx);
    }
  } catch (error) {
    result.failure = { phase, error: error instanceof Error ? error.message : String(error) };
    log(`${phase} failed: ${result.failure.error}`);
  } finally {
    result.daemonErrors = { count: daemons.reduce((n, d) => n + d.errorCount, 0), samples: daemons.flatMap((d) => d.errors).slice(0, 5) };
    if (submitter) result.submissions = { accepted: submitter.accepted, refused: submitter.refused, unanswered: submitter.unanswered, problems: submitter.problems };
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    forget();
    result.seconds = (Date.now() - began) / 1000;
  }
  return result;
}
