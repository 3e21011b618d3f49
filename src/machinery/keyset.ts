// Keyset pagination for the lists people page through: a page ends at its last row's sort key,
// and the next page starts after it. Timestamps are carried as text to the microsecond, since a
// JavaScript Date would round them to the millisecond and skip or repeat rows that share one.
import { sql, type SQL } from 'drizzle-orm';

/** Where a page ended: the last row's timestamp (ISO 8601, microseconds, UTC) and id. */
export interface TimeKey {
  at: string;
  id: string;
}

/** A timestamptz column as the exact text a TimeKey holds. */
export const exactTime = (column: unknown) => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The TimeKey a row read with `exactTime(...) AS page_at` ends at. */
export function timeKeyOf(raw: Record<string, unknown>): TimeKey {
  return { at: String(raw.page_at), id: String(raw.id) };
}

/** Rows after `key` in ascending (at, id) order, or before it in descending order. */
export function afterKey(atColumn: unknown, idColumn: unknown, key: TimeKey | undefined, order: 'asc' | 'desc'): SQL {
  if (!key) return sql`true`;
  const comparison = order === 'asc' ? sql`>` : sql`<`;
  return sql`(${atColumn}, ${idColumn}) ${comparison} (${key.at}::timestamptz, ${key.id}::uuid)`;
}

/** A row of a page with the key a page ending at it continues from. */
export interface Keyed<Row> {
  row: Row;
  key: TimeKey;
}
