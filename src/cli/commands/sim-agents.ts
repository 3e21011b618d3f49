// `sandfleet sim-agents`: simulated guest agents for the sim cloud's agent pools, all in this one
// process, talking to the API as real agents do. Runs until SIGINT or SIGTERM, then prints what
// the agents did.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Command } from 'commander';
import { databaseUrlFromEnv, openDatabase } from '../../db/index.js';
import { SimAgentFleet, type SimAgentStats } from '../../providers/sim/agent-fleet.js';
import { optionalConfig } from '../context.js';
import { emit } from '../output.js';
import { integer, shard } from './arguments.js';

interface Options {
  pools?: string;
  minDurationMs: number;
  maxDurationMs: number;
  heartbeatMs: number;
  shard?: { index: number; count: number };
  json?: boolean;
}

export function registerSimAgents(program: Command, config: () => string | undefined): void {
  program
    .command('sim-agents')
    .description("run simulated agents on the sim cloud's agent-pool machines (one process for all of them) until interrupted")
    .option('--pools <names>', 'comma-separated pools (default: every pool whose machines carry an agent credential)')
    .option('--min-duration-ms <ms>', 'shortest simulated analysis when the task names none', integer(0, 86_400_000), 50)
    .option('--max-duration-ms <ms>', 'longest simulated analysis when the task names none', integer(0, 86_400_000), 500)
    .option('--heartbeat-ms <ms>', 'heartbeat period (keep it well under the pools\' heartbeat_timeout_s)', integer(100, 600_000), 10_000)
    .option('--shard <i/n>', 'drive only shard i of n (0-based) of the machines, so n processes can share a large fleet', shard)
    .option('--json', 'print the final counts as JSON')
    .action(async (o: Options, command: Command) => {
      if (o.minDurationMs > o.maxDurationMs) command.error(`error: --min-duration-ms (${o.minDurationMs}) must not exceed --max-duration-ms (${o.maxDurationMs})`, { exitCode: 2, code: 'sandfleet.usage' });
      const resolved = optionalConfig(config());
      const database = openDatabase({ url: resolved?.databaseUrl ?? databaseUrlFromEnv(), max: 2, applicationName: 'sandfleet-sim-agents' });
      const fleet = new SimAgentFleet({
        db: database.db,
        ...(resolved ? { cluster: resolved.cluster } : {}),
        ...(o.pools ? { pools: o.pools.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
        minDurationMs: o.minDurationMs,
        maxDurationMs: o.maxDurationMs,
        heartbeatMs: o.heartbeatMs,
        ...(o.shard ? { shard: o.shard } : {}),
      });
      fleet.start();
      // How late this process's timers fire: past a few seconds, its agents beat late.
      const delay = monitorEventLoopDelay({ resolution: 20 });
      delay.enable();
      const progress = setInterval(() => {
        process.stderr.write(`${line(fleet.stats)}; event loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms, max ${(delay.max / 1e6).toFixed(0)} ms\n`);
        delay.reset();
      }, 10_000);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(progress);
      delay.disable();
      await fleet.stop();
      await database.close();
      emit(o, fleet.stats, () => console.log(line(fleet.stats)));
    });
}

function line(s: SimAgentStats): string {
  return `sim agents: ${s.agents} machines, ${s.leases} leases, ${s.completed} completed, ${s.failed} failed, ${s.lost} ended before their finish, ${s.errors} call errors${s.errors ? ` (${kinds(s.errorKinds)})` : ''}`;
}

function kinds(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
}
