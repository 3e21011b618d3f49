// The daemons' config file. Nothing in it shortens an interval: supervision, reconciling, lease
// checks, job locks and grace periods are left out so the daemon's defaults apply, exactly as in
// production. Only sizes are set (pools, run and machine concurrency), the workload's runner, and
// the submitter token's request limit.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { RunPlan } from './plan.js';
import type { WorkloadDriver } from './workload.js';

export function writeDaemonConfig(file: string, plan: RunPlan, driver: WorkloadDriver): void {
  const config = {
    cluster: 'fleet',
    queue: { backend: plan.backend },
    // The harness's one submitter token is the whole workload, not a client to hold back.
    api: { host: '127.0.0.1', port: 0, token_requests_per_minute: 10_000_000 },
    log: { level: 'info' },
    scheduler: { run_concurrency: plan.runConcurrency, machine_concurrency: plan.machineConcurrency },
    pools: plan.pools.map((p) => ({
      name: p.name,
      provider: 'sim',
      // Every machine exists and is kept: the fleet is warm from the start.
      min_ready: p.machines,
      max_size: p.machines,
      max_uses: p.maxUses,
      recycle: p.recycle,
      // The sim cloud's own boot, stop and terminate delays (1.5 s, 0.2 s, 0.2 s by default).
      settings: {},
      runner: driver.poolRunner(plan.durations),
    })),
  };
  writeFileSync(file, stringify(config));
}
