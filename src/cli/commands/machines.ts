// `sandfleet machines ls|show|drain` and `sandfleet pools ls`.
import type { Command } from 'commander';
import { MACHINE_STATES, type MachineState } from '../../db/states.js';
import { drainOne, machinesOf, poolSummaries, showMachine } from '../../scheduler/service/service.js';
import type { PoolView } from '../../scheduler/service/views.js';
import { withContext } from '../context.js';
import { emit, printTable, table } from '../output.js';
import { watch } from '../watch.js';
import { resolveMachineId } from '../../scheduler/service/id-prefix.js';
import { idPrefix, oneOf, seconds } from './arguments.js';

export function registerMachines(program: Command, config: () => string | undefined): void {
  const machines = program.command('machines').description('inspect and drain machines');
  machines
    .command('ls')
    .description('list machines')
    .option('--pool <name>', 'only this pool')
    .option('--state <state>', MACHINE_STATES.join('|'), oneOf(MACHINE_STATES))
    .option('--json', 'print JSON')
    .action((o: { pool?: string; state?: MachineState; json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const list = await machinesOf(service, o);
        emit(o, list, () => printTable(list as unknown as Record<string, unknown>[], ['id', 'name', 'pool', 'state', 'ip', 'uses', 'task_id', 'state_changed_at']));
      }),
    );
  machines
    .command('show')
    .description('show a machine and its event history')
    .argument('<id>', 'machine id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const machine = await showMachine(service, await resolveMachineId(service, prefix));
        emit(o, machine, () => {
          const { events, ...fields } = machine;
          for (const [key, value] of Object.entries(fields)) console.log(`${key.padEnd(17)} ${value ?? '-'}`);
          console.log('\nhistory:');
          printTable(events as unknown as Record<string, unknown>[], ['at', 'from', 'to', 'actor', 'reason']);
        });
      }),
    );
  machines
    .command('drain')
    .description('take a ready machine out of service and retire it')
    .argument('<id>', 'machine id, or its first 8 or more characters', idPrefix)
    .option('--after-task', 'if it is leased, retire it once its task is done instead of refusing')
    .option('--json', 'print JSON')
    .action((prefix: string, o: { afterTask?: boolean; json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const id = await resolveMachineId(service, prefix);
        const machine = await drainOne(service, id, { afterTask: Boolean(o.afterTask) });
        emit(o, machine, () => console.log(machine.state === 'leased' ? `machine ${id} will be retired after its task` : `machine ${id} is ${machine.state}; it will be deleted`));
      }),
    );

  program
    .command('pools')
    .description('pools and their machines')
    .command('ls')
    .description('list pools with machine counts, queued tasks and desired size')
    .option('--watch', 'show them again every --interval until interrupted (Ctrl-C)')
    .option('--interval <seconds>', 'with --watch, how often (default 2)', seconds(0.2, 3600), 2)
    .option('--json', 'print JSON (with --watch, one line per snapshot)')
    .action((o: { watch?: boolean; interval: number; json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const snapshot = async () => {
          const pools = await poolSummaries(service);
          return { value: pools, text: () => poolTable(pools) };
        };
        if (o.watch) return watch({ intervalS: o.interval, title: 'sandfleet pools ls', json: Boolean(o.json) }, snapshot);
        const { value, text } = await snapshot();
        emit(o, value, () => console.log(text()));
      }),
    );
}

function poolTable(pools: PoolView[]): string {
  if (pools.length === 0) return '(none)';
  return table(
    pools.map((p) => ({ ...p, machines: Object.entries(p.machines).map(([s, n]) => `${s}:${n}`).join(' ') || '-', size: `${p.min_ready}..${p.max_size}` })),
    ['name', 'provider', 'active', 'size', 'desired_size', 'queued_tasks', 'machines'],
  );
}
