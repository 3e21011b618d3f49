// `sandfleet check`: every invariant violation (I1–I8) with the offending ids; exit 1 if any
// was found, or if a pool's instances could not be listed (I5 unknown).
import type { Command } from 'commander';
import { DEFAULT_CLUSTER } from '../../config/schema.js';
import { latestCluster } from '../../machinery/index.js';
import { checkSystem } from '../../scheduler/check.js';
import type { ProviderRegistry } from '../../scheduler/providers.js';
import { SCHEDULER_DEFAULTS } from '../../scheduler/defaults.js';
import { optionalConfig, withContext } from '../context.js';
import { emit, printTable } from '../output.js';
import { CommandFailed, integer } from './arguments.js';

interface CheckCommandOptions {
  pool?: string;
  deadlineGraceS?: number;
  orphanGraceS?: number;
  json?: boolean;
}

export function registerCheck(program: Command, config: () => string | undefined): void {
  program
    .command('check')
    .description('check the invariants over the tables, the events and the clouds; exit 1 on any violation')
    .option('--pool <name>', 'only this pool')
    .option('--deadline-grace-s <s>', 'I4: how far past its deadline an active task may be (default: scheduler.deadline_grace_s)', integer(0, 86_400))
    .option('--orphan-grace-s <s>', 'I5: how long an instance may lack its row and vice versa (default: scheduler.orphan_grace_s)', integer(0, 86_400))
    .option('--json', 'print JSON')
    .action((o: CheckCommandOptions) =>
      withContext(config(), async ({ database }) => {
        const settings = optionalConfig(config());
        // The cluster names the instances to list: the config's, else the one the database's
        // daemons serve (the quick start's daemon runs on another config than the CLI finds).
        const cluster = settings?.cluster ?? (await latestCluster(database.db)) ?? DEFAULT_CLUSTER;
        // The registry pulls in both cloud SDKs (tens of MiB of heap): loaded only once the
        // database checks are done, so the event log is read by a small process.
        let providers: Promise<ProviderRegistry> | undefined;
        const registry = () => (providers ??= import('../../scheduler/providers.js').then((m) => new m.ProviderRegistry({ db: database.db, cluster })));
        const report = await checkSystem({
          db: database.db,
          providerFor: async (pool) => (await registry()).for(pool),
          deadlineGraceS: o.deadlineGraceS ?? settings?.scheduler.deadline_grace_s ?? SCHEDULER_DEFAULTS.deadlineGraceS,
          orphanGraceS: o.orphanGraceS ?? settings?.scheduler.orphan_grace_s ?? SCHEDULER_DEFAULTS.orphanGraceS,
          pool: o.pool,
        });
        emit(o, { ok: report.violations.length === 0 && report.unchecked.length === 0, cluster, ...report }, () => {
          const c = report.checked;
          console.log(`checked cluster ${cluster}: ${c.pools} pools, ${c.machines} machines, ${c.tasks} tasks, ${c.instances} instances`);
          if (report.violations.length > 0) printTable(report.violations.map((v) => ({ ...v, ids: v.ids.join(' ') })), ['invariant', 'detail', 'ids']);
          for (const [invariant, n] of Object.entries(report.omitted)) console.log(`${n} more ${invariant} violation(s) not listed`);
          for (const u of report.unchecked) console.log(`I5 not checked for pool ${u.pool}: ${u.reason}`);
          if (report.violations.length === 0 && report.unchecked.length === 0) console.log('no violations');
        });
        const found = report.violations.length + Object.values(report.omitted).reduce((sum, n) => sum + n, 0);
        if (found > 0) throw new CommandFailed(`${found} invariant violation(s) found`);
        if (report.unchecked.length > 0) throw new CommandFailed(`could not list the instances of ${report.unchecked.map((u) => u.pool).join(', ')}: retry, or check the provider's credentials`);
      }),
    );
}
