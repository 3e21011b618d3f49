export * from './database.js';
export * from './errors.js';
export * from './migrate.js';
export * from './rows.js';
export * from './storable.js';
export * from './states.js';
export * from './transaction.js';
export * as schema from './schema.js';
export type { EventRow, MachineRow, PoolRow, TaskRow } from './schema.js';
