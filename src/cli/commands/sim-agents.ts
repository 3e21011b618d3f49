// `sandfleet sim-agents`: simulated guest agents for the sim cloud's agent pools, all in this one
// process, talking to the API as real agents do. Runs until SIGINT or SIGTERM, then prints what
// the agents did.
import type { Command } from 'commander';
import { databaseUrlFromEnv, openDatabase } from '../../db/index.js';
import { SimAgentFleet, type SimAgentStats } from '../../providers/sim/agent-fleet.js';
import { optionalConfig } from '../context.js';
import { emit } from '../output.js';
import { integer } from './arguments.js';

interface Options {
  pools?: string;
  minDurationMs: number;
  maxDurationMs: number;
  heartbeatMs: number;
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
    .option('--json', 'print the final counts as JSON')
    .action(async (o: Options) => {
      const resolved = optionalConfig(config());
      const database = openDatabase({ url: resolved?.databaseUrl ?? databaseUrlFromEnv(), max: 2, applicationName: 'sandfleet-sim-agents' });
      const fleet = new SimAgentFleet({
        db: database.db,
        ...(resolved ? { cluster: resolved.cluster } : {}),
        ...(o.pools ? { pools: o.pools.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
        minDurationMs: o.minDurationMs,
        maxDurationMs: o.maxDurationMs,
        heartbeatMs: o.heartbeatMs,
      });
      fleet.start();
      const progress = setInterval(() => process.stderr.write(`${line(fleet.stats)}\n`), 10_000);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(progress);
      await fleet.stop();
      await database.close();
      emit(o, fleet.stats, () => console.log(line(fleet.stats)));
    });
}

function line(s: SimAgentStats): string {
  return `sim agents: ${s.agents} machines, ${s.leases} leases, ${s.completed} completed, ${s.failed} failed, ${s.lost} ended before their finish, ${s.errors} call errors`;
}
