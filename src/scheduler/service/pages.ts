// Pagination of every list (docs/api.md §1): pages of at most PAGE_LIMIT.max items, continued by
// an opaque cursor (base64url) that holds the sort key of the page's last item.
import type { TimeKey } from '../../machinery/index.js';
import { InvalidCursor } from './errors.js';

/** How many items a page holds unless asked (`limit`), and at most. Defined once for the API and the CLI. */
export const PAGE_LIMIT = { default: 50, max: 100 } as const;

/** A page of a list: `next_cursor` continues it, null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** What a caller asks of a list: how many, and after which cursor. */
export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An exact timestamp as the repository writes keys (src/machinery/keyset.ts). */
const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const decode = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

/**
 * A page from rows read with one to spare (`limit + 1`): the spare says there is a next page,
 * which starts after the last item kept.
 */
export function pageOf<Row, Item>(rows: readonly Row[], limit: number, view: (row: Row) => Item, cursorAt: (row: Row) => string): Page<Item> {
  const kept = rows.slice(0, limit);
  const last = kept.at(-1);
  return { items: kept.map(view), next_cursor: rows.length > limit && last !== undefined ? cursorAt(last) : null };
}

/** Cursors of lists ordered by a timestamp and an id. */
export const timeCursor = {
  of: (key: TimeKey): string => encode(`${key.at} ${key.id}`),
  read(cursor: string | undefined): TimeKey | undefined {
    if (cursor === undefined) return undefined;
    const [at, id, ...rest] = decode(cursor).split(' ');
    if (rest.length > 0 || !at || !id || !EXACT_TIME.test(at) || Number.isNaN(Date.parse(at)) || !UUID.test(id)) throw new InvalidCursor();
    return { at, id };
  },
};

/** Cursors of event lists: the last event's id. */
export const eventCursor = {
  of: (id: bigint): string => encode(id.toString()),
  read(cursor: string | undefined): bigint | undefined {
    if (cursor === undefined) return undefined;
    const text = decode(cursor);
    if (!/^[1-9]\d{0,18}$/.test(text) || BigInt(text) > 9_223_372_036_854_775_807n) throw new InvalidCursor();
    return BigInt(text);
  },
};

/** A control character (PostgreSQL refuses NUL in text) or the mark of bytes that were not UTF-8. */
const unprintable = (c: string) => c.charCodeAt(0) < 0x20 || c === '\uFFFD';

/** Cursors of lists ordered by a name (pools). */
export const nameCursor = {
  of: (name: string): string => encode(name),
  read(cursor: string | undefined): string | undefined {
    if (cursor === undefined) return undefined;
    const name = decode(cursor);
    // A pool name is 1-63 characters; anything else, or bytes that were not UTF-8, was not ours.
    if (name.length < 1 || name.length > 63 || [...name].some(unprintable) || encode(name) !== cursor) throw new InvalidCursor();
    return name;
  },
};
