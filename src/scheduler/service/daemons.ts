// The daemons serving the database: which are alive, and which pools each leads.
import { listDaemonPage, liveDaemonCount } from '../../machinery/index.js';
import { pageOf, timeCursor, type Page, type PageRequest } from './pages.js';
import type { ServiceContext } from './service.js';
import { daemonView, type DaemonView } from './views.js';

/** A page of daemons, the most recently started first (stopped ones included). */
export async function daemonsPage(ctx: ServiceContext, page: PageRequest): Promise<Page<DaemonView>> {
  const rows = await listDaemonPage(ctx.db, { limit: page.limit + 1, before: timeCursor.read(page.cursor) });
  return pageOf(rows, page.limit, ({ row }) => daemonView(row), ({ key }) => timeCursor.of(key));
}

/** How many daemons are alive now (none: queued work waits until one starts). */
export function liveDaemons(ctx: ServiceContext): Promise<number> {
  return liveDaemonCount(ctx.db);
}
