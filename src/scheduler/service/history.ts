// What happened to a task or a machine: its events a page at a time, newest first, seen as the
// entity itself is (a submitter's only for its tenant's tasks; a machine's even once its row is gone).
import { getMachine, hasHistory, historyPage } from '../../machinery/index.js';
import { NotFound } from './errors.js';
import { eventCursor, pageOf, type Page, type PageRequest } from './pages.js';
import { visibleTask, type ServiceContext } from './service.js';
import { eventView, type EventView } from './views.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A task's events, newest first; 404 for a task the caller cannot see, exactly as for the task. */
export async function taskHistory(ctx: ServiceContext, id: string, page: PageRequest): Promise<Page<EventView>> {
  const before = eventCursor.read(page.cursor);
  await visibleTask(ctx, id);
  return eventPage(ctx, id, page.limit, before);
}

/** A machine's events, newest first, live or deleted; 404 for an id no row or event names. */
export async function machineHistory(ctx: ServiceContext, id: string, page: PageRequest): Promise<Page<EventView>> {
  const before = eventCursor.read(page.cursor);
  if (!UUID.test(id) || (!(await getMachine(ctx.db, id)) && !(await hasHistory(ctx.db, id)))) throw new NotFound('machine', id);
  return eventPage(ctx, id, page.limit, before);
}

async function eventPage(ctx: ServiceContext, id: string, limit: number, before: bigint | undefined): Promise<Page<EventView>> {
  const rows = await historyPage(ctx.db, id, { limit: limit + 1, before });
  return pageOf(rows, limit, eventView, (e) => eventCursor.of(e.id));
}
