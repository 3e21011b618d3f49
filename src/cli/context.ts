// What CLI commands work with: the database and queues named by the config (or, without a
// config file, DATABASE_URL and the PostgreSQL queue), the same service layer the API uses.
import { existsSync } from 'node:fs';
import { configPath, loadConfig, type ResolvedConfig } from '../config/load.js';
import { databaseUrlFromEnv, openDatabase, type Database } from '../db/index.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type MachineJob, type QueueBackend, type RunJob } from '../scheduler/queue.js';
import { OPERATOR_SCOPE, type ServiceContext } from '../scheduler/service/service.js';

export interface CliContext {
  service: ServiceContext;
  /** The config the command runs with, or null (database from the environment). */
  config: ResolvedConfig | null;
  database: Database;
  close: () => Promise<void>;
}

/** The config if one is given or present; null means "database from the environment, PostgreSQL queue". */
export function optionalConfig(explicit: string | undefined): ResolvedConfig | null {
  const path = configPath(explicit);
  if (explicit === undefined && process.env.SANDFLEET_CONFIG === undefined && !existsSync(path)) return null;
  return loadConfig(path);
}

export function openContext(configFile: string | undefined): CliContext {
  const config = optionalConfig(configFile);
  const url = config?.databaseUrl ?? databaseUrlFromEnv();
  const database = openDatabase({ url, max: 4, applicationName: 'sandfleet-cli' });
  const backend: QueueBackend = config?.queue.backend === 'redis' ? { kind: 'redis', url: config.redisUrl ?? '', prefix: config.queue.prefix } : { kind: 'postgres' };
  const settings = { database, backend };
  const runs = createQueue<RunJob>(RUN_QUEUE, settings);
  const machines = createQueue<MachineJob>(MACHINE_QUEUE, settings);
  return {
    database,
    config,
    // The CLI works on the database directly, as an operator: it sees every tenant's tasks.
    service: {
      db: database.db,
      scope: OPERATOR_SCOPE,
      queues: { runs, machines },
      actor: `cli:${process.env.USER ?? 'unknown'}`,
      ...(config?.scheduler.max_machines_total ? { maxMachinesTotal: config.scheduler.max_machines_total } : {}),
    },
    close: async () => {
      await Promise.all([runs.close(), machines.close()]);
      await database.close();
    },
  };
}

export async function withContext<T>(configFile: string | undefined, work: (ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = openContext(configFile);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}
