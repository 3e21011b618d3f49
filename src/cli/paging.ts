// The paging options every list command takes (--limit, --cursor, --all), and how a page is
// printed: a table with `more: --cursor …` under it, or with --json the page object itself.
// With --all the pages are followed to the end and printed as one page (`next_cursor` null).
import type { Command } from 'commander';
import { PAGE_LIMIT, type Page, type PageRequest } from '../scheduler/service/pages.js';
import { integer } from './commands/arguments.js';

export interface PagingOptions {
  limit: number;
  cursor?: string;
  all?: boolean;
}

/** Adds --limit, --cursor and --all to a list command. */
export function withPaging(command: Command): Command {
  return command
    .option('--limit <n>', `page size (1-${PAGE_LIMIT.max}, default ${PAGE_LIMIT.default})`, integer(1, PAGE_LIMIT.max), PAGE_LIMIT.default)
    .option('--cursor <cursor>', 'start after the page that returned this next_cursor')
    .option('--all', 'follow next_cursor to the end and print every item');
}

/** The page asked for, or with --all every page from the cursor on, as one (the other fields from the last page). */
export async function readPages<T, P extends Page<T>>(options: PagingOptions, read: (page: PageRequest) => Promise<P>): Promise<P> {
  let page = await read({ limit: options.limit, cursor: options.cursor });
  if (!options.all) return page;
  const items = [...page.items];
  while (page.next_cursor !== null) {
    page = await read({ limit: options.limit, cursor: page.next_cursor });
    items.push(...page.items);
  }
  return { ...page, items, next_cursor: null };
}

/** The line under a table that says how to get the next page, if there is one. */
export function morePages(page: Page<unknown>): void {
  if (page.next_cursor !== null) console.log(`more: --cursor ${page.next_cursor}`);
}
