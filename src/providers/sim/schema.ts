// The simulated cloud's own tables, in schema sim_cloud of the same database: like a real
// cloud, its instances outlive any daemon and are shared by every daemon of the cluster.
import { sql } from 'drizzle-orm';
import { check, index, jsonb, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const simCloud = pgSchema('sim_cloud');

export const simInstances = simCloud.table(
  'instances',
  {
    id: text().primaryKey(),
    cluster: text().notNull(),
    pool: text().notNull(),
    /** The create's idempotency token: our machine id. */
    clientToken: text('client_token').notNull(),
    name: text().notNull(),
    tags: jsonb().$type<Record<string, string>>().notNull().default({}),
    ip: text().notNull(),
    /** The last thing asked of the instance; its visible state follows from phase and the clock. */
    phase: text().notNull(),
    launchedAt: timestamp('launched_at', { withTimezone: true }).notNull().defaultNow(),
    phaseAt: timestamp('phase_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the current phase completes (booted, stopped, terminated). */
    settlesAt: timestamp('settles_at', { withTimezone: true }).notNull(),
    /** Spontaneous death, decided at launch by the fault settings. */
    diesAt: timestamp('dies_at', { withTimezone: true }),
    /** What the create handed the instance to read at boot (an agent's credential), as a real cloud's user data. */
    userData: text('user_data'),
  },
  (t) => [
    uniqueIndex('sim_instances_token_key').on(t.cluster, t.pool, t.clientToken),
    index('sim_instances_pool_idx').on(t.cluster, t.pool),
    check('sim_instances_phase_check', sql`${t.phase} IN ('launched', 'stopping', 'terminating', 'reimaging')`),
  ],
);
