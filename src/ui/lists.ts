// Reading the API's list endpoints, which answer pages of `{items, next_cursor}`.
import type { Page } from './api-types.js';

/** What listing needs of the API client (api.ts's Api has it). */
export interface Reader {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
}

/** A page's items and the cursor of the next page. */
export function itemsOf<T>(body: Page<T>): { items: T[]; next: string | null } {
  return { items: body.items, next: body.next_cursor };
}

/** Pages followed for one view, at most: a fleet larger than this is shown in part, and says so. */
export const MAX_PAGES = 20;

/** Every item of a list endpoint, following `next_cursor`, up to MAX_PAGES pages. */
export async function listAll<T>(api: Reader, path: string, signal?: AbortSignal): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const url: string = cursor ? `${path}${path.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}` : path;
    const { items: more, next } = itemsOf(await api.get<Page<T>>(url, signal));
    items.push(...more);
    if (!next) return { items, complete: true };
    cursor = next;
  }
  return { items, complete: false };
}

/** The path with the given query parameters, the empty ones left out. */
export function withQuery(path: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams(Object.entries(params).filter((entry): entry is [string, string] => Boolean(entry[1])));
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
