// `sandfleet machines ls|show|events|drain` and `sandfleet pools ls`.
import type { Command } from 'commander';
import { MACHINE_STATES, type MachineState } from '../../db/states.js';
import { machineHistory } from '../../scheduler/service/history.js';
import { drainOne, machinesOf, poolSummaries, showMachine } from '../../scheduler/service/service.js';
import type { Page } from '../../scheduler/service/pages.js';
import type { PoolView } from '../../scheduler/service/views.js';
import { withContext } from '../context.js';
import { emit, printTable, table } from '../output.js';
import { morePages, readPages, withPaging, type PagingOptions } from '../paging.js';
import { watch } from '../watch.js';
import { resolveMachineId } from '../../scheduler/service/id-prefix.js';
import { printEvents } from './history.js';
import { idPrefix, oneOf, seconds } from './arguments.js';

export function registerMachines(program: Command, config: () => string | undefined): void {
  const machines = program.command('machines').description('inspect and drain machines');
  withPaging(
    machines
      .command('ls')
      .description('list machines, oldest first')
      .option('--pool <name>', 'only this pool')
      .option('--state <state>', MACHINE_STATES.join('|'), oneOf(MACHINE_STATES)),
  )
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((o: { pool?: string; state?: MachineState; json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const page = await readPages(o, (p) => machinesOf(service, { pool: o.pool, state: o.state, ...p }));
        emit(o, page, () => {
          printTable(page.items as unknown as Record<string, unknown>[], ['id', 'name', 'pool', 'state', 'ip', 'uses', 'task_id', 'state_changed_at']);
          morePages(page);
        });
      }),
    );
  machines
    .command('show')
    .description('show a machine (deleted ones too, from their events), the tasks it ran and its history')
    .argument('<id>', 'machine id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ service }) => {
        const machine = await showMachine(service, await resolveMachineId(service, prefix));
        emit(o, machine, () => {
          const { events, tasks, ...fields } = machine;
          for (const [key, value] of Object.entries(fields)) console.log(`${key.padEnd(17)} ${value ?? '-'}`);
          console.log(`${'tasks'.padEnd(17)} ${tasks.join(' ') || '-'}`);
          console.log('\nhistory:');
          printEvents(events);
        });
      }),
    );
  withPaging(machines.command('events').description("a machine's events, newest first (deleted machines too)").argument('<id>', 'machine id, or its first 8 or more characters', idPrefix))
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((prefix: string, o: { json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const id = await resolveMachineId(service, prefix);
        const page = await readPages(o, (p) => machineHistory(service, id, p));
        emit(o, page, () => {
          printEvents(page.items);
          morePages(page);
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

  withPaging(
    program
      .command('pools')
      .description('pools and their machines')
      .command('ls')
      .description('list pools with machine counts, queued tasks and desired size'),
  )
    .option('--watch', 'show them again every --interval until interrupted (Ctrl-C)')
    .option('--interval <seconds>', 'with --watch, how often (default 2)', seconds(0.2, 3600), 2)
    .option('--json', 'print JSON ({ items, next_cursor, live_daemons }; with --watch, one line per snapshot)')
    .action((o: { watch?: boolean; interval: number; json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const snapshot = async () => {
          const page = await readPages(o, (p) => poolSummaries(service, p));
          return { value: page, text: () => poolsText(page) };
        };
        if (o.watch) return watch({ intervalS: o.interval, title: 'sandfleet pools ls', json: Boolean(o.json) }, snapshot);
        const { value, text } = await snapshot();
        emit(o, value, () => console.log(text()));
      }),
    );
}

/** The pools table, the cursor of the next page, and a line when no daemon is alive. */
function poolsText(page: Page<PoolView> & { live_daemons: number }): string {
  const lines = [
    page.items.length === 0
      ? '(none)'
      : table(
          page.items.map((p) => ({ ...p, machines: Object.entries(p.machines).map(([s, n]) => `${s}:${n}`).join(' ') || '-', size: `${p.min_ready}..${p.max_size}` })),
          ['name', 'provider', 'active', 'size', 'desired_size', 'queued_tasks', 'machines'],
        ),
  ];
  if (page.next_cursor !== null) lines.push(`more: --cursor ${page.next_cursor}`);
  // Nothing scales or claims without a daemon: say so where people look first.
  if (page.live_daemons === 0) lines.push('no daemon is alive: nothing creates machines or hands them tasks until one starts (`sandfleet daemons ls`)');
  return lines.join('\n');
}
