// The data (d) holds: machines resting `ready` (each with its sim instance, so the reconciler
// finds nothing lost and nothing orphaned) and tasks long `completed`, written by INSERT …
// SELECT generate_series in three statements rather than through the lifecycle, which would
// take far longer than the measurement. Rows satisfy every CHECK and unique index; events are
// left out (nothing the daemon does while idle reads them).
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/db/index.js';
import { TAG } from '../../src/providers/types.js';

export interface SeedCounts {
  machines: number;
  tasks: number;
}

export async function seedFleet(db: Db, cluster: string, pools: readonly string[], counts: SeedCounts): Promise<void> {
  const names = sql`${sql.param([...pools])}::text[]`;
  const n = pools.length;
  await db.execute(sql`
    INSERT INTO machines (id, name, pool, provider_id, ip, state, prev_state, version, uses, created_at, state_changed_at)
    SELECT gen_random_uuid(), 'bench-m-' || g, (${names})[1 + g % ${n}], 'sim-bench-' || g,
           '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256, 'ready', 'booting', 3, g % 7, now(), now()
    FROM generate_series(0, ${counts.machines - 1}) AS g`);
  await db.execute(sql`
    INSERT INTO sim_cloud.instances (id, cluster, pool, client_token, name, tags, ip, phase, settles_at)
    SELECT provider_id, ${cluster}, pool, id::text, name,
           jsonb_build_object(${TAG.cluster}::text, ${cluster}::text, ${TAG.pool}::text, pool, ${TAG.machine}::text, id::text, ${TAG.name}::text, name),
           ip, 'launched', now()
    FROM machines`);
  await db.execute(sql`
    INSERT INTO tasks (id, pool, payload, state, prev_state, version, attempts, machine_id, outcome, result,
                       created_at, state_changed_at, assigned_at, started_at, finished_at)
    SELECT gen_random_uuid(), (${names})[1 + g % ${n}], jsonb_build_object('sample', 'bench-' || g || '.exe'),
           'completed', 'running', 4, 1, gen_random_uuid(), 'completed', '{"runner": "sim"}'::jsonb,
           t - interval '3 seconds', t, t - interval '2 seconds', t - interval '2 seconds', t
    FROM generate_series(0, ${counts.tasks - 1}) AS g, LATERAL (SELECT now() - g * interval '1 second' AS t) AS at`);
  // Fresh statistics, as a long-running database would have: the planner must not guess.
  await db.execute(sql`ANALYZE machines, tasks, sim_cloud.instances`);
}
