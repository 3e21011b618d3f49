// `sandfleet daemon`, `sandfleet config check` and `sandfleet demo`.
import type { Command } from 'commander';
import { configPath, loadConfig } from '../../config/load.js';
import { createLogger, defaultLogFormat, LOG_FORMATS, logDestination, type LogFormat } from '../../daemon/logger.js';
import { OPERATOR_SCOPE, submitTask, poolSummaries, type ServiceContext } from '../../scheduler/service/service.js';
import { PAGE_LIMIT } from '../../scheduler/service/pages.js';
import { emit, printJson, table } from '../output.js';
import { integer, oneOf } from './arguments.js';

// The daemon pulls in Fastify and both cloud SDKs: loaded only by the commands that run it, so
// the other commands (and --help) start quickly.
const loadDaemon = () => import('../../daemon/daemon.js');

export function registerDaemon(program: Command, config: () => string | undefined): void {
  program
    .command('daemon')
    .description('run the daemon: scheduler, autoscaler, reconciler and REST API (SIGTERM drains)')
    .option('--log-format <format>', `${LOG_FORMATS.join(' or ')} (default: pretty when stdout is a terminal, else json)`, oneOf(LOG_FORMATS))
    .action(async (o: { logFormat?: LogFormat }) => {
      const resolved = loadConfig(configPath(config()));
      const log = createLogger(resolved.log.level, { cluster: resolved.cluster }, await logDestination(o.logFormat ?? defaultLogFormat()));
      const { startDaemon } = await loadDaemon();
      const daemon = await startDaemon(resolved, log);
      const code = await new Promise<number>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'shutting down');
          void daemon.stop().then(
            () => resolve(0),
            (error: unknown) => {
              log.error({ err: error }, 'shutdown failed');
              resolve(1);
            },
          );
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      // Work still running past the grace was handed back (the tables say where it stood);
      // its leftover timers and sockets must not keep the process alive.
      process.exit(code);
    });

  program
    .command('config')
    .description('the config file')
    .command('check')
    .description('validate the config file (and environment overrides) without starting anything')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const resolved = loadConfig(configPath(config()));
      const summary = { ok: true, source: resolved.source, cluster: resolved.cluster, queue: resolved.queue.backend, pools: resolved.pools.map((p) => ({ name: p.name, provider: p.provider, min_ready: p.min_ready, max_size: p.max_size })) };
      emit(o, summary, () => console.log(`${resolved.source} is valid: cluster ${resolved.cluster}, ${resolved.pools.length} pool(s): ${resolved.pools.map((p) => `${p.name} (${p.provider})`).join(', ')}`));
    });

  program
    .command('demo')
    .description('run a daemon in-process on the example config, submit a batch of tasks, and watch them')
    .option('--tasks <n>', 'how many tasks to submit', integer(1, 1000), 20)
    .option('--json', 'print only the summary, as JSON')
    .action(async (o: { tasks: number; json?: boolean }) => {
      const resolved = loadConfig(configPath(config() ?? 'sandfleet.example.yaml'));
      const { startDaemon } = await loadDaemon();
      const daemon = await startDaemon({ ...resolved, api: { ...resolved.api, port: 0 } }, createLogger('warn', { cluster: resolved.cluster }));
      const service: ServiceContext = { db: daemon.database.db, scope: OPERATOR_SCOPE, queues: daemon.scheduler.deps.queues, pools: daemon.scheduler.deps.lifecycle.pools, actor: 'demo' };
      const started = Date.now();
      try {
        const pools = resolved.pools.map((p) => p.name);
        const ids = [];
        for (let i = 0; i < o.tasks; i++) ids.push((await submitTask(service, { pool: pools[i % pools.length], payload: { demo: i } })).task.id);
        let states: Record<string, number> = {};
        for (;;) {
          const rows = await daemon.database.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM tasks WHERE id = ANY($1::uuid[]) GROUP BY state', [ids]);
          states = Object.fromEntries(rows.rows.map((r) => [r.state, r.n]));
          if (!o.json) {
            const view = await poolSummaries(service, { limit: PAGE_LIMIT.max });
            const machines = view.items.map((p) => ({ pool: p.name, queued: p.queued_tasks, desired: p.desired_size, machines: Object.entries(p.machines).map(([s, n]) => `${s}:${n}`).join(' ') || '-' }));
            process.stdout.write(`\n[${((Date.now() - started) / 1000).toFixed(1)}s] tasks ${JSON.stringify(states)}\n${table(machines, ['pool', 'queued', 'desired', 'machines'])}\n`);
          }
          const ended = ['completed', 'failed', 'timed_out', 'canceled'].reduce((n, s) => n + (states[s] ?? 0), 0);
          if (ended === ids.length) break;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        const summary = { tasks: ids.length, states, seconds: (Date.now() - started) / 1000 };
        if (o.json) printJson(summary);
        else console.log(`\ndone: ${ids.length} tasks in ${summary.seconds.toFixed(1)}s: ${JSON.stringify(states)}`);
      } finally {
        await daemon.stop();
      }
    });
}
