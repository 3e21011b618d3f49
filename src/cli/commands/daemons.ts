// `sandfleet daemons ls`: the daemons serving this database, alive or not, and the pools each leads.
import type { Command } from 'commander';
import { DAEMON_ALIVE_WITHIN_MS } from '../../machinery/index.js';
import { daemonsPage } from '../../scheduler/service/daemons.js';
import { withContext } from '../context.js';
import { emit, printTable } from '../output.js';
import { morePages, readPages, withPaging, type PagingOptions } from '../paging.js';

export function registerDaemons(program: Command, config: () => string | undefined): void {
  withPaging(
    program
      .command('daemons')
      .description('the daemons serving this database')
      .command('ls')
      .description(`list daemons, the most recently started first; alive: not stopped and heard from within ${DAEMON_ALIVE_WITHIN_MS / 1000} s`),
  )
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((o: { json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ service }) => {
        const page = await readPages(o, (p) => daemonsPage(service, p));
        emit(o, page, () => {
          const rows = page.items.map((d) => ({ ...d, alive: d.alive ? 'yes' : 'no', leads: d.leads.join(' ') || '-' }));
          printTable(rows, ['id', 'cluster', 'host', 'pid', 'started_at', 'last_seen_at', 'alive', 'leads']);
          morePages(page);
        });
      }),
    );
}
