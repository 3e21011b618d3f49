// The daemon sizes its database pool from what it runs and says so in one line at start; and
// what the sizing assumes of BullMQ holds: on PostgreSQL every worker keeps exactly one
// connection of the pool (its LISTEN client), so a process that runs a queue less, or a BullMQ
// that holds more, fails here rather than starving the handlers in production.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/logger.js';
import { daemonPoolDemand, planPool } from '../../src/daemon/pool-size.js';
import { databaseUrlFromEnv, dropDatabase } from '../../src/db/index.js';
import { daemonSessionName } from '../../src/machinery/index.js';
import { ROOT } from './process.js';

const name = `sf_test_daemon_pool_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
afterAll(() => dropDatabase(url.toString(), name), 30_000);

describe('the daemon\'s database pool', () => {
  it('is sized from the queue listeners, the leader lock and the handlers, and the start log says how', async () => {
    const example = readFileSync(path.join(ROOT, 'sandfleet.example.yaml'), 'utf8');
    const config = parseConfig(example, 'example', { DATABASE_URL: url.toString(), SANDFLEET_PORT: '0' });
    const plan = planPool(daemonPoolDemand(config));
    // The example keeps the default pool_size of 20, below what its concurrency needs.
    expect(config.database.pool_size).toBeLessThan(plan.needed);
    const lines: string[] = [];
    const log = createLogger('info', { cluster: config.cluster }, { write: (line: string) => void lines.push(line) });
    const daemon = await startDaemon(config, log);
    try {
      expect(daemon.database.pool.options.max).toBe(plan.size);
      expect(plan.size).toBe(plan.needed);
      const said = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => String(e.msg).startsWith('database pool:'));
      expect(said).toEqual([expect.objectContaining({ msg: plan.summary, pool_size: plan.size, needed: plan.needed, configured: 20 })]);

      // Once every worker is up, the connections BullMQ holds for good are its listeners, renamed
      // after their queue (one per worker the sizing counted); everything else in the pool, the
      // leader lock too, keeps the daemon's name.
      const workers = daemon.scheduler['workers'];
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      const held = await daemon.database.db.execute(sql`
        SELECT application_name FROM pg_stat_activity
        WHERE datname = current_database() AND application_name <> ${daemonSessionName(daemon.id)}`);
      const queues = daemonPoolDemand(config).workers.map((w) => `sandfleet-${w.queue}`);
      expect(held.rows.map((r) => r.application_name).sort()).toEqual(queues.sort());
      expect(workers).toHaveLength(plan.listeners);
    } finally {
      await daemon.stop();
    }
  }, 120_000);
});
