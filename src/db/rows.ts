// Maps rows of hand-written SQL (snake_case, driver values) to the same typed objects drizzle's
// query builder returns, using the schema's own column definitions.
import { getTableColumns, type InferSelectModel, type Table } from 'drizzle-orm';

export type RowMapper<T extends Table> = (raw: Record<string, unknown>) => InferSelectModel<T>;

export function rowMapper<T extends Table>(table: T): RowMapper<T> {
  const columns = Object.entries(getTableColumns(table));
  return (raw) => {
    const row: Record<string, unknown> = {};
    for (const [key, column] of columns) {
      const value = raw[column.name];
      if (value === undefined) throw new Error(`row is missing column "${column.name}"`);
      row[key] = value === null ? null : column.mapFromDriverValue(value);
    }
    return row as InferSelectModel<T>;
  };
}
